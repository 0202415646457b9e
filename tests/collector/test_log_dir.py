"""set-log-dir through the gateway: inventory's node view, read-log, tailing and the start-up sync agree."""

import asyncio
import time
import uuid

import httpx
import pytest

from tests.collector.conftest import Bus
from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME

pytestmark = [pytest.mark.sshd, pytest.mark.slow, pytest.mark.timeout(240)]

LOG_NAME = "hadoop-hdfs-datanode.log"


def login(client: httpx.Client) -> dict[str, str]:
    response = client.post("/user/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def make_folder(parent, name: str, marker: str):
    folder = parent / name
    folder.mkdir()
    (folder / LOG_NAME).write_text(f"2026-12-04 10:00:00,000 INFO a.B: {marker}\n")
    return folder


def register(client: httpx.Client, headers: dict, node, name: str, log_dir) -> str:
    """Register ``node`` as ``name``, the only node of a new cluster; return the cluster uuid."""
    created = client.post(
        "/clusters",
        headers=headers,
        json={
            "name": f"ld-{uuid.uuid4().hex[:8]}",
            "nodes": [
                {
                    "hostname": name,
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
    assert created.status_code in (200, 201), created.text
    return created.json()["uuid"]


def node_view(client: httpx.Client, headers: dict, name: str, cluster_uuid: str) -> dict:
    response = client.get(f"/nodes/{name}?cluster={cluster_uuid}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def read_log(client: httpx.Client, headers: dict, name: str, path) -> httpx.Response:
    body = {"node": name, "path": str(path), "lines": 5}
    return client.post("/ops/read-log", json=body, headers=headers)


async def tailed_files(infra, cluster_uuid: str, expected: str, timeout: float = 30.0) -> set[str]:
    """Return the files of the cluster's LOGS records once one of them is ``expected`` (or the time is up)."""
    async with Bus(infra) as bus:
        deadline = time.monotonic() + timeout
        while True:
            batches = await bus.log_batches(cluster_uuid)
            files = {batch.file for _, batch in batches if batch.entries}
            if expected in files or time.monotonic() > deadline:
                return files
            await asyncio.sleep(0.5)


def test_set_log_dir_applies_everywhere(infra, full_stack, sshd_factory, tmp_path):
    node = sshd_factory("ld1")
    old_dir = make_folder(tmp_path, "old-logs", "old-marker")
    new_dir = make_folder(tmp_path, "new-logs", "new-marker")

    with httpx.Client(base_url=f"{full_stack.base_url}/api/v1", timeout=30) as client:
        admin = login(client)
        cluster_uuid = register(client, admin, node, "ld1", old_dir)
        changed = client.post(f"/hadoop/collectors/set-log-dir{new_dir}/", headers=admin)
        view = node_view(client, admin, "ld1", cluster_uuid)
        new_read = read_log(client, admin, "ld1", new_dir / LOG_NAME)
        old_read = read_log(client, admin, "ld1", old_dir / LOG_NAME)

    assert changed.status_code == 200, changed.text
    assert changed.json() == {"message": f"Set log directory to {new_dir}"}
    assert view["log_dirs"] == [str(new_dir)]
    assert new_read.status_code == 200, new_read.text
    assert any("new-marker" in line for line in new_read.json()["lines"])
    assert old_read.status_code == 422, old_read.text
    assert old_read.json()["detail"]["errors"][0]["code"] == "path_outside_log_dirs"
    files = asyncio.run(tailed_files(infra, cluster_uuid, str(new_dir / LOG_NAME)))
    assert str(new_dir / LOG_NAME) in files, f"the new folder was not tailed: {files}"


def test_set_log_dir_survives_collector_restart(infra, full_stack, sshd_factory, tmp_path):
    node = sshd_factory("ld2")
    old_dir = make_folder(tmp_path, "old-logs", "old-marker")
    new_dir = make_folder(tmp_path, "new-logs", "new-marker")

    with httpx.Client(base_url=f"{full_stack.base_url}/api/v1", timeout=30) as client:
        admin = login(client)
        cluster_uuid = register(client, admin, node, "ld2", old_dir)
        changed = client.post(f"/hadoop/collectors/set-log-dir{new_dir}/", headers=admin)

        # The restarted collector copies every node's folders from inventory (clusters.list_all).
        full_stack.stop_service("collector")
        full_stack.start_service("collector")
        full_stack.wait_ready()
        view = node_view(client, admin, "ld2", cluster_uuid)
        new_read = read_log(client, admin, "ld2", new_dir / LOG_NAME)

    assert changed.status_code == 200, changed.text
    assert view["log_dirs"] == [str(new_dir)]
    assert new_read.status_code == 200, new_read.text
    files = asyncio.run(tailed_files(infra, cluster_uuid, str(new_dir / LOG_NAME)))
    assert str(new_dir / LOG_NAME) in files, f"the new folder was not tailed after the restart: {files}"
    assert str(old_dir / LOG_NAME) not in files


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("zh", "日志目录须为绝对路径"), ("en", "A log directory must be an absolute path")],
)
def test_set_log_dir_rejects_invalid_folder(full_stack, lang, expected):
    with httpx.Client(base_url=f"{full_stack.base_url}/api/v1", timeout=30) as client:
        admin = login(client)
        response = client.post(
            "/hadoop/collectors/set-log-dir/var/log%25x/", headers={**admin, "Accept-Language": lang}
        )

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]["errors"]
    assert error["field"] == "log_dir"
    assert error["code"] == "invalid_log_dir"
    assert error["message"].startswith(expected)
