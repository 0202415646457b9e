"""Discovery through inventory on the demo cluster: inherited logins and the exec log.

Only the master is registered with a secret. Inventory's ``clusters.discover`` adds the
workers with ``credentials_from_node`` set to the master, and the collector logs in to them
with the master's stored key, read at each connect.
"""

import asyncio
import uuid

import asyncpg
import asyncssh
import pytest

from libs.common.rpc import Principal, RpcRequest
from tests.collector.conftest import ADMIN, Bus, collector_env
from tests.conftest import start_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
async def demo_cluster(tmp_path):
    democluster = pytest.importorskip("hfd.democluster")
    config = democluster.DemoClusterConfig(
        cluster_dir=tmp_path / "demo",
        name="cdisc",
        nodes=3,
        first_address="127.0.0.150",
        lines_per_second=5.0,
        fault_interval=0,
        seed=5,
    )
    cluster = democluster.DemoCluster(config)
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture
def discovery_stack(infra, tmp_path, demo_cluster):
    env = collector_env(infra, tmp_path, HFD_COLLECTOR_KNOWN_HOSTS=str(demo_cluster.manifest.known_hosts_path))
    stack = start_stack(infra, "inventory", "collector", **env)
    yield stack
    stack.stop()


async def call_ok(bus: Bus, service: str, operation: str, body=None, params=None) -> dict:
    request = RpcRequest(principal=ADMIN, body=body, params=params or {}, lang="en")
    reply = await bus.rpc.call(service, operation, request)
    assert reply.status == 200, (operation, reply.status, reply.body)
    return reply.body


async def register_master(bus: Bus, cluster) -> tuple[str, str]:
    """Create the cluster in inventory with its master node only; return (cluster uuid, master uuid)."""
    master = next(node for node in cluster.manifest.nodes if "namenode" in node.roles)
    body = {
        "name": f"disc-{uuid.uuid4().hex[:8]}",
        "host": master.name,
        "ip": master.address,
        "nodes": [
            {
                "hostname": master.name,
                "ip_address": master.address,
                "ssh_user": master.ssh_user,
                "ssh_private_key": master.private_key_path.read_text(),
                "ssh_port": master.port,
                "log_dirs": [str(folder) for folder in master.log_dirs],
                "roles": master.roles,
                "known_host_key": master.host_public_key,
            }
        ],
    }
    created = await call_ok(bus, "inventory", "clusters.create", body)
    status = await call_ok(bus, "collector", "nodes.status", {"cluster_uuid": created["uuid"]})
    [stored] = status["nodes"]
    return created["uuid"], stored["node_uuid"]


async def node_status(bus: Bus, cluster_uuid: str) -> dict[str, dict]:
    status = await call_ok(bus, "collector", "nodes.status", {"cluster_uuid": cluster_uuid})
    return {node["name"]: node for node in status["nodes"]}


async def wait_until(check, timeout: float = 40.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(1)


async def exec_log_rows(infra, node_uuid: str) -> list[asyncpg.Record]:
    url = infra.database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(
            "SELECT command_type, actor, username, execution_status FROM collector.exec_logs"
            " WHERE node_uuid = $1 ORDER BY id",
            node_uuid,
        )
    finally:
        await connection.close()


async def test_discovered_worker_uses_master_login(infra, discovery_stack, demo_cluster):
    workers = [node for node in demo_cluster.manifest.nodes if "namenode" not in node.roles]

    async with Bus(infra) as bus:
        cluster_uuid, master_uuid = await register_master(bus, demo_cluster)
        discovered = await call_ok(bus, "inventory", "clusters.discover", params={"uuid": cluster_uuid})
        assert sorted(discovered["added"]) == sorted(node.name for node in workers)

        stored = await node_status(bus, cluster_uuid)
        assert set(stored) == {node.name for node in demo_cluster.manifest.nodes}

        # Inventory gives a discovered worker the master's port and log folders, but each demo
        # node listens on its own port and logs to its own folder. The same upsert inventory
        # sends, with no secret and the master as credentials_from_node, sets the worker's own.
        worker = workers[0]
        worker_uuid = stored[worker.name]["node_uuid"]
        upsert = {
            "cluster_uuid": cluster_uuid,
            "cluster_name": demo_cluster.manifest.name,
            "node_uuid": worker_uuid,
            "name": worker.name,
            "address": worker.address,
            "port": worker.port,
            "ssh_user": worker.ssh_user,
            "password": None,
            "private_key": None,
            "known_host_key": worker.host_public_key,
            "log_dirs": [str(folder) for folder in worker.log_dirs],
            "credentials_from_node": master_uuid,
        }
        await call_ok(bus, "collector", "nodes.upsert", upsert)

        async def worker_batches():
            batches = await bus.log_batches(cluster_uuid)
            return [batch for _, batch in batches if batch.node == worker.name and batch.entries]

        collected = await wait_until(worker_batches)
        assert collected, "no log batch from the discovered worker"
        assert (await node_status(bus, cluster_uuid))[worker.name]["reachable"] is True

        # A new key on the master applies to the worker at once: the worker reconnects with it.
        master = next(node for node in demo_cluster.manifest.nodes if "namenode" in node.roles)
        master_upsert = {
            **upsert,
            "node_uuid": master_uuid,
            "name": master.name,
            "address": master.address,
            "port": master.port,
            "known_host_key": master.host_public_key,
            "log_dirs": [str(folder) for folder in master.log_dirs],
            "credentials_from_node": None,
        }
        unknown_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
        await call_ok(bus, "collector", "nodes.upsert", {**master_upsert, "private_key": unknown_key})

        async def worker_rejected():
            node = (await node_status(bus, cluster_uuid))[worker.name]
            return node if node["reachable"] is False else None

        rejected = await wait_until(worker_rejected, timeout=20)
        assert rejected is not None, "worker still reachable after the master's key changed"
        assert rejected["error"] == "authentication failed"

        master_key = master.private_key_path.read_text()
        await call_ok(bus, "collector", "nodes.upsert", {**master_upsert, "private_key": master_key})

        async def worker_reachable():
            return (await node_status(bus, cluster_uuid))[worker.name]["reachable"] is True

        assert await wait_until(worker_reachable, timeout=20), "worker not reachable with the master's key again"

        # Removing the master leaves the worker without a login: it reconnects and reports the reason.
        await call_ok(bus, "collector", "nodes.remove", {"node_uuid": master_uuid})

        async def worker_unreachable():
            node = (await node_status(bus, cluster_uuid))[worker.name]
            return node if node["reachable"] is False else None

        node = await wait_until(worker_unreachable, timeout=20)
        assert node is not None, "worker still reachable after its credentials node was removed"
        assert "not found" in node["error"]
        assert master_uuid in node["error"]


async def test_discovery_commands_in_exec_log(infra, discovery_stack, demo_cluster):
    async with Bus(infra) as bus:
        cluster_uuid, master_uuid = await register_master(bus, demo_cluster)
        await call_ok(bus, "inventory", "clusters.discover", params={"uuid": cluster_uuid})
        system_reply = await bus.call(
            "discover", {"cluster_uuid": cluster_uuid, "node_uuid": master_uuid}, principal=None
        )

    assert system_reply.status == 200, system_reply.body
    assert len(system_reply.body["hosts"]) == 2
    rows = [tuple(row) for row in await exec_log_rows(infra, master_uuid)]
    assert rows == [
        ("hdfs_report", "user", "admin", "success"),
        ("yarn_nodes", "user", "admin", "success"),
        ("hdfs_report", "system", "hfd-system", "success"),
        ("yarn_nodes", "system", "hfd-system", "success"),
    ]


async def test_discovery_rejects_observer(infra, discovery_stack, demo_cluster):
    observer = Principal(user_id=7, username="watcher", role="observer")
    async with Bus(infra) as bus:
        cluster_uuid, master_uuid = await register_master(bus, demo_cluster)
        reply = await bus.call("discover", {"cluster_uuid": cluster_uuid, "node_uuid": master_uuid}, principal=observer)

    assert reply.status == 403
    assert await exec_log_rows(infra, master_uuid) == []
