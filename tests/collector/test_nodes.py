"""Node reachability events, host key checks, trust on first use, and secrets at rest."""

import asyncio
import uuid

import asyncpg
import pytest

from libs.common.events import NodeStatusEvent
from services.collector.config import CollectorSettings
from services.collector.credentials import NodeSecret
from services.collector.node_target import NodeTarget
from services.collector.ssh import SshPool
from services.collector.ssh_errors import HostKeyRejected
from tests.collector.conftest import Bus
from tests.collector.sshd import generate_key

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


async def status_events(bus: Bus, cluster: str, name: str) -> list[NodeStatusEvent]:
    subject = bus.names.subject(f"metrics.{cluster}.{name}.status")
    return [NodeStatusEvent.model_validate_json(data) for _, data in await bus.read_stream("METRICS", subject)]


async def wait_for_status(bus: Bus, cluster: str, name: str, count: int, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await status_events(bus, cluster, name)
        if len(events) >= count or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.5)


def target_for(node, node_uuid: str = "node-1") -> NodeTarget:
    return NodeTarget("cluster-1", "c1", node_uuid, "n1", node.address, node.port, node.user, ("/tmp",))


async def test_node_down_then_back_reports_status(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("s1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="s1")
        up = await wait_for_status(bus, cluster, "s1", 1)

        node.stop()
        down = await wait_for_status(bus, cluster, "s1", 2)

        await asyncio.to_thread(node.start)
        back = await wait_for_status(bus, cluster, "s1", 3)

    assert [event.reachable for event in up] == [True]
    assert [event.reachable for event in down] == [True, False]
    assert down[1].error
    assert [event.reachable for event in back] == [True, False, True]
    assert back[2].error is None


async def test_host_key_mismatch_is_rejected_and_reported(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("h1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "hadoop-hdfs-datanode-h1.log").write_text("2026-12-04 10:00:00,000 INFO a.B: hello\n")
    other_key = generate_key(tmp_path / "other_host_key")
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        node_uuid = await bus.register(node, log_dir, cluster_uuid=cluster, name="h1", known_host_key=other_key)
        events = await wait_for_status(bus, cluster, "h1", 1)
        await asyncio.sleep(1)
        batches = await bus.log_batches(cluster)
        reply = await bus.call("nodes.status", {"node_uuid": node_uuid}, principal=None)

    assert [event.reachable for event in events] == [False]
    assert events[0].error == "host key mismatch"
    assert batches == []
    assert reply.body["nodes"][0]["reachable"] is False
    assert reply.body["nodes"][0]["error"] == "host key mismatch"


async def test_unknown_host_key_rejected_without_tofu(sshd_factory, tmp_path):
    node = sshd_factory("t1")
    pool = SshPool(CollectorSettings(known_hosts=tmp_path / "known_hosts", trust_on_first_use=False))
    pool.set_node(target_for(node), NodeSecret(private_key=node.client_private_key), None)

    with pytest.raises(HostKeyRejected) as raised:
        await pool.run("node-1", ["true"], timeout=10)
    await pool.close()

    assert raised.value.reason == "host key unknown and trust on first use is off"


async def test_known_hosts_file_is_trusted(sshd_factory, tmp_path):
    node = sshd_factory("t2")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{node.address}]:{node.port} {node.host_public_key}\n")
    pool = SshPool(CollectorSettings(known_hosts=known_hosts))
    pool.set_node(target_for(node), NodeSecret(private_key=node.client_private_key), None)

    result = await pool.run("node-1", ["echo", "it's; a test"], timeout=10)
    await pool.close()

    assert result.exit_code == 0
    assert result.stdout == "it's; a test\n"


async def test_tofu_stores_first_key_then_rejects_change(sshd_factory, tmp_path):
    node = sshd_factory("t3")
    stored: list[str] = []

    async def remember(target, key):
        stored.append(key)

    settings = CollectorSettings(known_hosts=tmp_path / "known_hosts", trust_on_first_use=True)
    pool = SshPool(settings, on_host_key=remember)
    pool.set_node(target_for(node), NodeSecret(private_key=node.client_private_key), None)
    first = await pool.run("node-1", ["true"], timeout=10)
    await pool.close()

    node.stop()
    host_key = node.folder / "ssh_host_ed25519_key"
    host_key.unlink()
    host_key.with_suffix(".pub").unlink()
    generate_key(host_key)
    await asyncio.to_thread(node.start)
    later = SshPool(settings)
    later.set_node(target_for(node), NodeSecret(private_key=node.client_private_key), stored[0])
    with pytest.raises(HostKeyRejected) as raised:
        await later.run("node-1", ["true"], timeout=10)
    await later.close()

    assert first.exit_code == 0
    assert stored == [" ".join(node.host_public_key.split()[:2])]
    assert raised.value.reason == "host key mismatch"


async def test_secrets_encrypted_and_never_returned(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("e1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    cluster = str(uuid.uuid4())
    password = "Pl41ntext-Passw0rd-visible?"

    async with Bus(infra) as bus:
        node_uuid = await bus.register(node, log_dir, cluster_uuid=cluster, name="e1", password=password)
        replies = [
            await bus.call("nodes.status", {"node_uuid": node_uuid}, principal=None),
            await bus.call("collectors.status"),
            await bus.call("samplers.status", params={"cluster": cluster}),
        ]

    connection = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        row = await connection.fetchrow("SELECT * FROM collector.nodes WHERE node_uuid = $1", node_uuid)
    finally:
        await connection.close()

    stored = bytes(row["secret"])
    key_body = node.client_private_key.splitlines()[1]
    assert password.encode() not in stored
    assert key_body.encode() not in stored
    assert stored.startswith(b"gAAAAA"), "the secret is not a Fernet token"
    for reply in replies:
        text = reply.model_dump_json()
        assert password not in text
        assert key_body not in text
