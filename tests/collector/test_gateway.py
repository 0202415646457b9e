"""Collector controls over HTTP: gateway, auth, inventory (ownership) and collector together."""

import time
import uuid

import httpx
import pytest

from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME

pytestmark = [pytest.mark.sshd, pytest.mark.slow, pytest.mark.timeout(240)]

OPERATOR_PASSWORD = "Oper4torPassw0rd"


def login(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = client.post("/user/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_collector_routes_enforce_ownership(full_stack, sshd_factory, tmp_path):
    node = sshd_factory("g1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "hadoop-hdfs-datanode-g1.log").write_text("2026-12-04 10:00:00,000 INFO a.B: hello\n")
    cluster_name = f"gw-{uuid.uuid4().hex[:8]}"

    with httpx.Client(base_url=f"{full_stack.base_url}/api/v1", timeout=30) as client:
        admin = login(client, ADMIN_USERNAME, ADMIN_PASSWORD)
        created_user = client.post(
            "/users",
            headers=admin,
            json={"username": "oper1", "email": "oper1@example.com", "role": "operator", "password": OPERATOR_PASSWORD},
        )
        operator = login(client, "oper1", OPERATOR_PASSWORD)
        created = client.post(
            "/clusters",
            headers=admin,
            json={
                "name": cluster_name,
                "nodes": [
                    {
                        "hostname": "g1",
                        "ip_address": node.address,
                        "ssh_port": node.port,
                        "ssh_user": node.user,
                        "ssh_private_key": node.client_private_key,
                        "known_host_key": node.host_public_key,
                        "log_dirs": [str(log_dir)],
                        "roles": ["datanode"],
                    }
                ],
            },
        )
        cluster_uuid = created.json().get("uuid")

        def running():
            reply = client.get("/hadoop/collectors/status/", headers=admin)
            return reply.json().get("collectors", {}).get("g1_datanode") == 1 and reply

        admin_status = wait_for(running)
        operator_status = client.get("/hadoop/collectors/status/", headers=operator)
        operator_stop = client.post("/hadoop/collectors/stop/g1/datanode/", headers=operator)
        admin_stop = client.post("/hadoop/collectors/stop/g1/datanode/", headers=admin)
        admin_start = client.post("/hadoop/collectors/start/g1/datanode/?interval=3", headers=admin)
        bad_interval = client.post("/hadoop/collectors/set-interval/0/", headers=admin)
        bad_dir = client.post("/hadoop/collectors/set-log-dir/var/log;reboot/", headers=admin)
        good_dir = client.post(f"/hadoop/collectors/set-log-dir{log_dir}/", headers=admin)
        cluster_start = client.post(f"/hadoop/collectors/start-by-cluster/{cluster_uuid}/?interval=5", headers=admin)
        operator_cluster = client.post(f"/metrics/collectors/start-by-cluster/{cluster_uuid}", headers=operator)
        sampler = client.get(f"/metrics/collectors/status?cluster={cluster_uuid}", headers=admin)
        anonymous = client.get("/hadoop/collectors/status/")

    assert created_user.status_code in (200, 201), created_user.text
    assert created.status_code in (200, 201), created.text
    assert admin_status, "the collector never reported g1_datanode running"
    assert operator_status.status_code == 200
    assert operator_status.json() == {"collectors": {}, "total_running": 0}, "an operator saw another's node"
    assert operator_stop.status_code == 404, "an operator stopped a node of another's cluster"
    assert admin_stop.json() == {"message": "Stopped log collection for g1_datanode"}
    assert admin_start.json() == {"message": "Started log collection for g1_datanode", "interval": 3}
    assert bad_interval.status_code == 422
    assert bad_interval.json()["detail"]["errors"][0]["field"] == "interval"
    assert bad_dir.status_code == 422
    assert good_dir.json() == {"message": f"Set log directory to {log_dir}"}
    assert cluster_start.status_code == 200
    assert cluster_start.json()["nodes"] == ["g1"]
    assert operator_cluster.status_code == 404, "an operator changed another's cluster"
    assert sampler.json()["is_running"] is True
    assert anonymous.status_code == 401


def test_health_reports_collector_database(full_stack):
    with httpx.Client(base_url=f"{full_stack.base_url}/api/v1", timeout=30) as client:
        response = client.get("/health")

    assert response.status_code == 200
    collector = response.json()["services"]["collector"]
    assert collector["status"] == "ok"
    assert collector["database"] == "connected"
