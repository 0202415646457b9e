"""A collector replica that cannot renew its node leases stops reading the nodes before they expire.

The NATS server is frozen with SIGSTOP, which looks to a replica like a stream leader election:
requests neither succeed nor fail until they time out.
"""

import asyncio
import os
import signal
import time

import nats
import pytest

from hfd.embedded import EmbeddedNats
from libs.common.names import Names
from services.collector.config import CollectorSettings
from services.collector.leases import NodeLeases

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

LEASE_TTL = 4.0
RENEW_INTERVAL = 1.0


async def wait_for_event(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, timeout))
    except TimeoutError:
        pass


@pytest.fixture
def nats_server(tmp_path):
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


async def test_unrenewed_lease_stops_collection_before_expiry(nats_server):
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    claimed: list[tuple[str, float]] = []
    lost: list[tuple[str, float]] = []
    was_claimed, was_lost = asyncio.Event(), asyncio.Event()

    async def list_nodes() -> list[str]:
        return ["node-1"]

    async def on_claimed(node_uuid: str) -> None:
        claimed.append((node_uuid, time.monotonic()))
        was_claimed.set()

    async def on_lost(node_uuid: str) -> None:
        lost.append((node_uuid, time.monotonic()))
        was_lost.set()

    settings = CollectorSettings(leases=True, lease_ttl=LEASE_TTL, lease_renew_interval=RENEW_INTERVAL)
    leases = NodeLeases(
        nc.jetstream(timeout=2), Names("watchdog"), settings,
        list_nodes=list_nodes, on_claimed=on_claimed, on_lost=on_lost,
    )  # fmt: skip
    stopping = asyncio.Event()
    try:
        await leases.open()
        runner = asyncio.create_task(leases.run(stopping))
        await wait_for_event(was_claimed, 10)
        assert claimed, "the lease was never claimed"

        await asyncio.sleep(2 * RENEW_INTERVAL)
        os.kill(nats_server.process.pid, signal.SIGSTOP)
        # An acknowledgement already on its way may still arrive; read the last renewal after it.
        await asyncio.sleep(0.3)
        last_renewal = leases.renewed_at["node-1"]
        await wait_for_event(was_lost, last_renewal + LEASE_TTL + 2 - time.monotonic())
    finally:
        os.kill(nats_server.process.pid, signal.SIGCONT)
        stopping.set()
        leases.wake.set()

    await asyncio.wait_for(runner, 15)
    await nc.close()
    assert [node for node, _ in lost] == ["node-1"], f"collection not stopped: lost={lost}"
    stopped_after = lost[0][1] - last_renewal
    assert stopped_after < LEASE_TTL, f"collection stopped {stopped_after:.2f}s after the last renewal was sent"
    assert not leases.holds("node-1"), "the replica still counts the node as held"
