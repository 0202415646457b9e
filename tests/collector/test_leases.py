"""Two collector processes split the demo cluster's nodes with leases and survive a SIGKILL."""

import asyncio
import signal
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from nats.js.errors import KeyNotFoundError

from services.collector.policy import SYSTEM_AI_PRINCIPAL
from tests.collector.conftest import Bus, collector_env
from tests.collector.test_democluster import register_demo_nodes
from tests.conftest import start_stack
from tests.infra import start_infra, stop_infra

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

LEASE_ENV = {
    "HFD_COLLECTOR_LEASES": "true",
    "HFD_COLLECTOR_LEASE_TTL": "6",
    "HFD_COLLECTOR_LEASE_RENEW_INTERVAL": "2",
}


@pytest.fixture(scope="module")
def infra():
    """A database of this module's own.

    Each replica's share counts every node stored in the collector's table. Nodes that the
    package's other tests left there would raise the shares, so that one replica could claim
    all four nodes of this test and the split checked here would depend on the test order.
    """
    module_infra = start_infra()
    yield module_infra
    stop_infra(module_infra)


@pytest.fixture
async def demo_cluster(tmp_path):
    democluster = pytest.importorskip("hfd.democluster")
    config = democluster.DemoClusterConfig(
        cluster_dir=tmp_path / "demo",
        name="clease",
        nodes=4,
        first_address="127.0.0.170",
        lines_per_second=5.0,
        fault_interval=0,
        seed=3,
    )
    cluster = democluster.DemoCluster(config)
    await cluster.start()
    yield cluster
    await cluster.stop()


@pytest.fixture
def two_collectors(infra, tmp_path, demo_cluster):
    env = collector_env(infra, tmp_path, **LEASE_ENV)
    first = start_stack(infra, "collector", **env)
    second = start_stack(infra, "collector", **env)
    yield first, second
    second.stop()
    first.stop()


async def lease_holders(bus: Bus, node_uuids: list[str]) -> dict[str, str | None]:
    """Return ``{node uuid: holder pid}``, None for a node without a live lease."""
    leases = await bus.js.key_value(bus.names.bucket("collector_leases"))
    holders: dict[str, str | None] = {}
    for node_uuid in node_uuids:
        try:
            entry = await leases.get(node_uuid)
        except KeyNotFoundError:
            holders[node_uuid] = None
            continue
        holders[node_uuid] = entry.value.decode().split("-", 1)[0] if entry.value else None
    return holders


async def wait_for_holders(bus: Bus, node_uuids: list[str], check, timeout: float) -> dict[str, str | None]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        holders = await lease_holders(bus, node_uuids)
        if check(holders) or asyncio.get_running_loop().time() > deadline:
            return holders
        await asyncio.sleep(0.5)


async def test_leases_split_nodes_and_take_over(infra, two_collectors, demo_cluster):
    first, second = two_collectors
    pids = {str(first.processes["collector"].pid): first, str(second.processes["collector"].pid): second}
    cluster_uuid = str(uuid.uuid4())

    async with Bus(infra) as bus:
        registered = await register_demo_nodes(bus, demo_cluster, cluster_uuid)
        names = {node_uuid: name for name, node_uuid in registered.items()}
        node_uuids = list(names)
        split = await wait_for_holders(
            bus, node_uuids, lambda h: None not in h.values() and len(set(h.values())) == 2, timeout=90
        )
        assert None not in split.values(), f"a node has no lease: {split}"
        assert set(split.values()) == set(pids), f"nodes not split between both processes: {split}"

        # A command request reaches either process through the queue group, and both can run it.
        for node_uuid in node_uuids:
            for _ in range(4):
                body = {"node_uuid": node_uuid, "command_id": "jps", "args": {}, "timeout": 20}
                reply = await bus.call("commands.run", body, principal=SYSTEM_AI_PRINCIPAL)
                assert reply.status == 200, reply.body
                assert reply.body["status"] == "success"

        # Kill the process that holds more nodes without letting it release its leases.
        victim_pid, _ = Counter(split.values()).most_common(1)[0]
        survivor_pid = next(pid for pid in pids if pid != victim_pid)
        victim_nodes = {node_uuid for node_uuid, pid in split.items() if pid == victim_pid}
        await asyncio.sleep(3)
        pids[victim_pid].stop_service("collector", signal.SIGKILL)
        killed_wall_clock = datetime.now(UTC)
        killed_at = asyncio.get_running_loop().time()

        holders_after = await wait_for_holders(bus, node_uuids, lambda h: set(h.values()) == {survivor_pid}, timeout=60)
        takeover_seconds = asyncio.get_running_loop().time() - killed_at
        assert set(holders_after.values()) == {survivor_pid}, f"survivor did not take every node: {holders_after}"

        # Collection goes on from the stored offsets: let the survivor read past the handover.
        await asyncio.sleep(8)
        batches = await bus.log_batches(cluster_uuid)

    print(f"split {sorted(Counter(split.values()).values())}, takeover after SIGKILL: {takeover_seconds:.1f} s")
    message_ids = [msg_id for msg_id, _ in batches]
    assert len(message_ids) == len(set(message_ids))

    positions = Counter(
        (batch.node, batch.file, batch.inode, entry.offset) for _, batch in batches for entry in batch.entries
    )
    repeated = [key for key, count in positions.items() if count > 1]
    assert repeated == [], f"records published twice: {repeated[:5]}"

    files: dict[tuple, list] = defaultdict(list)
    for _, batch in batches:
        files[(batch.node, batch.file, batch.inode)].extend(batch.entries)
    gaps = []
    for key, entries in files.items():
        entries.sort(key=lambda entry: entry.offset)
        expected = entries[0].offset
        for entry in entries:
            if entry.offset != expected:
                gaps.append((key, expected, entry.offset))
            expected = entry.offset + entry.length
    assert gaps == [], f"records missing between offsets: {gaps[:5]}"
    assert {batch.node for _, batch in batches} == {node.name for node in demo_cluster.manifest.nodes}
    resumed = {batch.node for _, batch in batches if batch.collected_at > killed_wall_clock}
    assert {names[node_uuid] for node_uuid in victim_nodes} <= resumed
