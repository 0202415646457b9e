"""A node's change reaches the collector replica that tails it, whichever replica stored the change.

``test_set_log_dir_reaches_lease_holder`` runs two collector processes with leases and sends
set-log-dir until the replica that does not hold the node's lease serves it, so only the
change message can bring the new folder to the holder. ``test_resync_applies_missed_change``
changes a node's folders in the database without any message, as if the message was lost.
"""

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from libs.common.rpc import RpcRequest
from tests.collector.conftest import ADMIN, Bus, collector_env
from tests.collector.test_leases import lease_holders
from tests.conftest import start_stack
from tests.infra import Infra, Stack, start_infra, stop_infra

pytestmark = [pytest.mark.sshd, pytest.mark.slow, pytest.mark.timeout(240)]

LOG_NAME = "hadoop-hdfs-datanode.log"
# The message of the collector process that served set-log-dir.
SERVED_LOG_LINE = "log directory set nodes="
# nats-server gives each request to a random member of the queue group (docs.nats.io, "Queue Groups"),
# so all 12 attempts miss one of two replicas with probability 1/4096.
MAX_ATTEMPTS = 12
# Seconds from the reply of set-log-dir until the new folder's record is in LOGS.
TAIL_DEADLINE = 10.0


@pytest.fixture(scope="module")
def infra():
    """A database of this module's own, because set-log-dir changes every node an admin owns."""
    module_infra = start_infra()
    yield module_infra
    stop_infra(module_infra)


@pytest.fixture
def two_collectors(infra, tmp_path):
    """Inventory with one collector, and a second collector; resync is off, so only messages sync them."""
    env = collector_env(
        infra,
        tmp_path,
        HFD_COLLECTOR_LEASES="true",
        HFD_COLLECTOR_LEASE_TTL="6",
        HFD_COLLECTOR_LEASE_RENEW_INTERVAL="2",
        HFD_COLLECTOR_RESYNC_INTERVAL="3600",
    )
    first = start_stack(infra, "inventory", "collector", **env)
    try:
        # start_stack waits for the second process's own readiness, not only for a ping reply.
        second = start_stack(infra, "collector", **env)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def header(marker: str) -> str:
    return f"2026-12-04 10:00:00,000 INFO org.apache.hadoop.hdfs.server.datanode.DataNode: {marker}\n"


def make_folder(parent: Path, name: str) -> Path:
    folder = parent / name
    folder.mkdir()
    (folder / LOG_NAME).write_text(header(f"{name}-first"))
    return folder


def append_marker(folder: Path) -> str:
    marker = f"marker-{uuid.uuid4().hex}"
    with (folder / LOG_NAME).open("a") as log:
        log.write(header(marker))
    return marker


async def call_ok(bus: Bus, service: str, operation: str, body=None, params=None) -> dict:
    request = RpcRequest(principal=ADMIN, body=body, params=params or {}, lang="en")
    reply = await bus.rpc.call(service, operation, request)
    assert reply.status == 200, (operation, reply.status, reply.body)
    return reply.body


async def register_in_inventory(bus: Bus, node, log_dir: Path) -> tuple[str, str]:
    """Create a cluster with ``node`` in inventory, which stores it in the collector; return both uuids."""
    name = f"rs-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "host": "rs1",
        "ip": node.address,
        "nodes": [
            {
                "hostname": "rs1",
                "ip_address": node.address,
                "ssh_user": node.user,
                "ssh_private_key": node.client_private_key,
                "ssh_port": node.port,
                "log_dirs": [str(log_dir)],
                "roles": ["datanode"],
                "known_host_key": node.host_public_key,
            }
        ],
    }
    created = await call_ok(bus, "inventory", "clusters.create", body)
    status = await call_ok(bus, "collector", "nodes.status", {"cluster_uuid": created["uuid"]})
    [stored] = status["nodes"]
    return created["uuid"], stored["node_uuid"]


async def wait_for_holder(bus: Bus, node_uuid: str, timeout: float = 60.0) -> str | None:
    """Return the process id of the replica that holds the node's lease (None if none does in time)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        holder = (await lease_holders(bus, [node_uuid]))[node_uuid]
        if holder is not None or asyncio.get_running_loop().time() > deadline:
            return holder
        await asyncio.sleep(0.5)


async def wait_for_marker(bus: Bus, cluster_uuid: str, marker: str, timeout: float) -> set[str]:
    """Return the files whose LOGS records contain ``marker``, once there is one (or the time is up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        batches = await bus.log_batches(cluster_uuid)
        files = {batch.file for _, batch in batches if any(marker in entry.text for entry in batch.entries)}
        if files or asyncio.get_running_loop().time() > deadline:
            return files
        await asyncio.sleep(0.3)


def served_count(stack: Stack) -> int:
    return stack.log("collector").count(SERVED_LOG_LINE)


async def set_log_dir_through(bus: Bus, server: Stack, folders: list[Path]) -> Path | None:
    """Send set-log-dir, alternating ``folders``, until ``server`` serves it; return that folder.

    Every earlier attempt was served by the other replica, which then tails the previous
    folder. So the folder returned is never the one it tailed before the last attempt.
    """
    for attempt in range(MAX_ATTEMPTS):
        folder = folders[attempt % len(folders)]
        before = served_count(server)
        await call_ok(bus, "collector", "collectors.set_log_dir", params={"log_dir": str(folder)})
        if served_count(server) > before:
            return folder
    return None


async def test_set_log_dir_reaches_lease_holder(infra: Infra, two_collectors, sshd_factory, tmp_path):
    first, second = two_collectors
    stacks = {str(stack.processes["collector"].pid): stack for stack in (first, second)}
    node = sshd_factory("rs1")
    old_dir = make_folder(tmp_path, "old-logs")
    folders = [make_folder(tmp_path, "logs-a"), make_folder(tmp_path, "logs-b")]

    async with Bus(infra) as bus:
        cluster_uuid, node_uuid = await register_in_inventory(bus, node, old_dir)
        holder_pid = await wait_for_holder(bus, node_uuid)
        assert holder_pid in stacks, f"no collector process holds the node's lease: {holder_pid}"
        collecting = await wait_for_marker(bus, cluster_uuid, "old-logs-first", timeout=60)
        other = next(stack for pid, stack in stacks.items() if pid != holder_pid)

        target = await set_log_dir_through(bus, other, folders)
        assert target is not None, f"the replica without the lease served none of {MAX_ATTEMPTS} attempts"
        changed_at = asyncio.get_running_loop().time()
        marker = append_marker(target)
        tailed = await wait_for_marker(bus, cluster_uuid, marker, timeout=TAIL_DEADLINE)
        elapsed = asyncio.get_running_loop().time() - changed_at
        holder_after = (await lease_holders(bus, [node_uuid]))[node_uuid]

    print(f"waited {elapsed:.1f} s after set-log-dir for the record in the new folder")
    assert collecting == {str(old_dir / LOG_NAME)}
    assert holder_after == holder_pid, "the lease moved, so the test no longer shows the change message at work"
    assert tailed == {str(target / LOG_NAME)}, f"the holder did not tail {target} within {TAIL_DEADLINE} s"


async def set_stored_log_dirs(infra: Infra, node_uuid: str, log_dirs: list[str]) -> None:
    """Change the collector's copy of a node's folders directly, as a change whose message was lost."""
    url = infra.database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "UPDATE collector.nodes SET log_dirs = $1::json WHERE node_uuid = $2", json.dumps(log_dirs), node_uuid
        )
    finally:
        await connection.close()


@pytest.fixture
def resyncing_collector(infra, tmp_path):
    """One collector that compares its state with the database every 2 seconds."""
    stack = start_stack(infra, "collector", **collector_env(infra, tmp_path, HFD_COLLECTOR_RESYNC_INTERVAL="2"))
    yield stack
    stack.stop()


async def test_resync_applies_missed_change(infra: Infra, resyncing_collector, sshd_factory, tmp_path):
    node = sshd_factory("rs2")
    old_dir = make_folder(tmp_path, "old-logs")
    new_dir = make_folder(tmp_path, "new-logs")
    cluster_uuid = str(uuid.uuid4())

    async with Bus(infra) as bus:
        node_uuid = await bus.register(node, old_dir, cluster_uuid=cluster_uuid, name="rs2")
        collecting = await wait_for_marker(bus, cluster_uuid, "old-logs-first", timeout=60)
        await set_stored_log_dirs(infra, node_uuid, [str(new_dir)])
        marker = append_marker(new_dir)
        tailed = await wait_for_marker(bus, cluster_uuid, marker, timeout=TAIL_DEADLINE)

    assert collecting == {str(old_dir / LOG_NAME)}
    assert tailed == {str(new_dir / LOG_NAME)}, f"the resync did not apply the stored folder within {TAIL_DEADLINE} s"
