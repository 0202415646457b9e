"""Start-up calls to JetStream while a NATS cluster has no quorum yet.

Twelve processes starting at once on two cores once made a gateway's first bucket lookup time
out, and the gateway exited. These tests hold two of the three servers down while a service
opens its buckets and streams, then bring them back.
"""

import asyncio
import subprocess
import time

import nats
import pytest

from hfd.embedded import LOOPBACK, free_port, nats_server_binary, port_open
from libs.common import bus
from libs.common.names import Names
from libs.common.settings import get_common_settings
from tests.reliability.natscluster import NatsCluster

QUORUM_LOST_SECONDS = 8.0


@pytest.fixture
def replicated(monkeypatch):
    """Make ``ensure_kv`` and ``ensure_streams`` request three replicas, as a cluster deployment does."""
    monkeypatch.setenv("HFD_STREAM_REPLICAS", "3")
    get_common_settings.cache_clear()
    yield
    get_common_settings.cache_clear()


def _without_quorum(cluster: NatsCluster) -> None:
    cluster.kill("n2")
    cluster.kill("n3")


async def _restore_quorum_later(cluster: NatsCluster) -> None:
    await asyncio.sleep(QUORUM_LOST_SECONDS)
    await asyncio.to_thread(cluster.restart, "n2")
    await asyncio.to_thread(cluster.restart, "n3")


async def test_ensure_kv_waits_for_quorum(nats_cluster, replicated):
    _without_quorum(nats_cluster)
    nc = await nats.connect(nats_cluster.node("n1").url)
    started = time.monotonic()
    try:
        restore = asyncio.create_task(_restore_quorum_later(nats_cluster))
        kv = await bus.ensure_kv(nc.jetstream(), "HFD_START_TEST", ttl=60)
        await restore
        await kv.put("key", b"value")
        entry = await kv.get("key")
    finally:
        await nc.close()

    assert entry.value == b"value"
    assert time.monotonic() - started >= QUORUM_LOST_SECONDS


async def test_ensure_streams_waits_for_quorum(nats_cluster, replicated):
    _without_quorum(nats_cluster)
    nc = await nats.connect(nats_cluster.node("n1").url)
    names = Names("hfdstart")
    try:
        restore = asyncio.create_task(_restore_quorum_later(nats_cluster))
        await bus.ensure_streams(nc.jetstream(), names, ["AUDIT"])
        await restore
        info = await nc.jetstream().stream_info(names.stream("AUDIT"))
    finally:
        await nc.close()

    assert info.config.num_replicas == 3


async def test_publish_retries_until_its_stream_exists(nats_cluster):
    nc = await nats.connect(nats_cluster.node("n1").url)
    js = nc.jetstream(timeout=2.0)

    async def create_bucket_later() -> None:
        await asyncio.sleep(2.0)
        await js.create_key_value(bucket="HFD_LATE")

    try:
        create = asyncio.create_task(create_bucket_later())
        ack = await bus.retry_while_unavailable("put to HFD_LATE", lambda: js.publish("$KV.HFD_LATE.key", b"value"))
        await create
    finally:
        await nc.close()

    assert ack.stream == "KV_HFD_LATE"


@pytest.fixture
def nats_without_jetstream(tmp_path):
    """A single ``nats-server`` on loopback with JetStream off, so every JetStream request goes unanswered."""
    port = free_port()
    log = open(tmp_path / "nats-server.log", "wb")  # noqa: SIM115 - closed after the server exits
    process = subprocess.Popen([nats_server_binary(), "-a", LOOPBACK, "-p", str(port)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while not port_open(LOOPBACK, port) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"nats://{LOOPBACK}:{port}"
    process.terminate()
    process.wait(10)
    log.close()


async def test_retry_gives_up_with_clear_error(nats_without_jetstream):
    nc = await nats.connect(nats_without_jetstream)
    js = nc.jetstream(timeout=1.0)
    try:
        with pytest.raises(TimeoutError) as raised:
            await bus.retry_while_unavailable("info of bucket X", lambda: js.key_value("X"), seconds=3.0)
    finally:
        await nc.close()

    assert "JetStream did not respond to info of bucket X within 3s" in str(raised.value)
