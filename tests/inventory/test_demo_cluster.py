"""End to end with the demo cluster: the real collector connects over SSH and samples the nodes.

This module runs its own stack (auth, gateway, inventory, collector) under a separate NATS
prefix and database, because its collector connects to every node it stores, unlike the
package's stack. The demo cluster's SSH nodes listen on 127.0.0.60 and the next addresses.
"""

import asyncio
import dataclasses
import json
import re
import uuid

import asyncpg
import pytest

from hfd.democluster import DemoCluster, DemoClusterConfig
from tests.conftest import start_stack
from tests.gateway.helpers import STACK_ENV, Api, unique_name, wait_for
from tests.infra import _delete_nats_objects, create_test_streams
from tests.inventory.conftest import collector_env
from tests.inventory.helpers import Database

pytestmark = pytest.mark.slow

FIRST_ADDRESS = "127.0.0.60"


@pytest.fixture(scope="module")
def demo(infra, bus):
    """A three-node demo cluster (master and two workers) served on the test bus loop."""
    config = DemoClusterConfig(
        cluster_dir=infra.work_dir / "demo-cluster",
        name="demo",
        nodes=3,
        first_address=FIRST_ADDRESS,
        lines_per_second=1.0,
        fault_interval=0.0,
        seed=11,
    )
    cluster = DemoCluster(config)
    bus.run(cluster.start())
    yield cluster
    bus.run(cluster.stop())


@pytest.fixture(scope="module")
def isolated_infra(infra):
    """A NATS prefix and a database of their own, in the test session's servers."""
    prefix = f"{infra.prefix}e2e"
    name = f"{infra.database_name}_e2e"
    admin_url = infra.admin_database_url.replace("postgresql+asyncpg://", "postgresql://")
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    asyncio.run(create_test_streams(infra.nats_url, prefix))
    database_url = infra.database_url.rsplit("/", 1)[0] + f"/{name}"
    yield dataclasses.replace(infra, prefix=prefix, database_name=name, database_url=database_url)
    asyncio.run(_delete_nats_objects(infra.nats_url, prefix))
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def demo_stack(isolated_infra, demo):
    env = {
        **STACK_ENV,
        **collector_env(isolated_infra, owned_nodes=""),
        "HFD_COLLECTOR_KNOWN_HOSTS": str(demo.manifest.known_hosts_path),
        "HFD_COLLECTOR_METRIC_INTERVAL": "2",
    }
    running = start_stack(isolated_infra, "auth", "gateway", "inventory", "collector", **env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def demo_api(demo_stack):
    client = Api(demo_stack.base_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def demo_database(isolated_infra, bus):
    return Database(isolated_infra, bus)


@pytest.fixture(scope="module")
def registered(demo_api, demo):
    """The demo cluster registered with only its master node, by an operator."""
    operator = demo_api.create_account("operator")
    master = demo.manifest.nodes[0]
    node = {
        "hostname": master.name,
        "ip_address": master.address,
        "ssh_user": master.ssh_user,
        "ssh_port": master.port,
        "ssh_private_key": master.private_key_path.read_text(),
        "known_host_key": master.host_public_key,
        "log_dirs": [str(path) for path in master.log_dirs],
        "roles": master.roles,
    }
    body = {"name": unique_name("demo"), "type": "hadoop", "nodes": [node]}
    response = demo_api.request("POST", "/clusters", json=body, headers=operator.headers)
    assert response.status_code == 200, response.text
    return operator, response.json()["uuid"]


def nodes_of(api, account, cluster_uuid: str) -> dict[str, dict]:
    response = api.request("GET", f"/nodes?cluster={cluster_uuid}", headers=account.headers)
    assert response.status_code == 200, response.text
    return {node["name"]: node for node in response.json()["nodes"]}


def test_demo_master_sampled_by_collector(demo_api, demo, registered):
    operator, cluster_uuid = registered
    master = demo.manifest.nodes[0].name

    def sampled_master() -> dict | None:
        node = nodes_of(demo_api, operator, cluster_uuid)[master]
        return node if node["cpu"] != "-" else None

    node = wait_for(sampled_master, timeout=30)

    assert re.fullmatch(r"\d+%", node["cpu"])
    assert re.fullmatch(r"\d+%", node["mem"])
    assert node["status"] in ("healthy", "warning")
    memory = demo_api.request("GET", f"/metrics/memory_usage?cluster={cluster_uuid}", headers=operator.headers)
    assert memory.json()["used"] is not None
    assert memory.json()["nodes"] == 1
    trend = demo_api.request("GET", f"/metrics/cpu_trend?cluster={cluster_uuid}", headers=operator.headers)
    assert any(value is not None for value in trend.json()["values"][-2:])


@pytest.mark.parametrize("port", [0, 70000, "ssh", [22]])
def test_demo_discovery_rejects_invalid_worker_port(demo_api, registered, port):
    operator, cluster_uuid = registered
    headers = {**operator.headers, "Accept-Language": "en"}

    response = demo_api.request(
        "POST", f"/clusters/{cluster_uuid}/discover", json={"worker_ssh_port": port}, headers=headers
    )

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["detail"]["errors"]] == ["worker_ssh_port"]


def test_demo_discovery_adds_workers(demo_api, demo, demo_database, registered):
    operator, cluster_uuid = registered
    master, *workers = demo.manifest.nodes

    response = demo_api.request("POST", f"/clusters/{cluster_uuid}/discover", headers=operator.headers)

    assert response.status_code == 200, response.text
    assert sorted(response.json()["added"]) == sorted(worker.name for worker in workers)
    assert response.json()["skipped"] == []
    nodes = nodes_of(demo_api, operator, cluster_uuid)
    stored = {row["name"]: row for row in demo_database.collector_nodes(cluster_uuid).values()}
    for worker in workers:
        assert nodes[worker.name]["ip"] == worker.address
        assert nodes[worker.name]["source"] == "discovered"
        assert set(nodes[worker.name]["roles"]) == {"datanode", "nodemanager"}
        assert stored[worker.name]["address"] == worker.address
        assert stored[worker.name]["port"] == master.port
        assert json.loads(stored[worker.name]["log_dirs"]) == [str(path) for path in master.log_dirs]

    # The demo gives each node its own SSH port and a discovered node takes the master's, so the
    # collector cannot reach the workers. It reports that while discovery is still committing,
    # and the report must reach the new nodes all the same.
    for worker in workers:
        wait_for(lambda name=worker.name: nodes_of(demo_api, operator, cluster_uuid)[name]["status"] == "unhealthy")


def test_demo_delete_keeps_history(demo_api, demo_database, registered):
    operator, cluster_uuid = registered
    count = "SELECT count(*) AS n FROM inventory.metric_samples WHERE cluster_uuid = $1"
    samples = wait_for(lambda: demo_database.fetch(count, uuid.UUID(cluster_uuid))[0]["n"], timeout=30)

    response = demo_api.request("DELETE", f"/clusters/{cluster_uuid}", headers=operator.headers)

    assert response.status_code == 200, response.text
    assert demo_database.collector_nodes(cluster_uuid) == {}
    assert demo_database.fetch(count, uuid.UUID(cluster_uuid))[0]["n"] >= samples
