"""The consumers lease of the faults replicas: one holder, fenced commits, takeover after SIGKILL."""

import asyncio
import signal
import uuid

import nats
import pytest
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from sqlalchemy import text

from libs.common.db import Database, migrate
from libs.common.names import Names
from services.faults.config import FaultsSettings
from services.faults.leader import LEADER_BUCKET, LEASE_KEY, ConsumerLeadership, LeadershipLost
from services.faults.models import SCHEMA
from tests.conftest import start_stack
from tests.faults_service.helpers import (
    DISK_FULL,
    SERVICE_ENV,
    LogFile,
    connect,
    hadoop_line,
    incidents_of,
    publish,
    spaced_time,
    wait_until,
)
from tests.faults_service.test_state_machine import MIGRATIONS

LEASE = FaultsSettings(lease_ttl=2, lease_renew_interval=0.5)


@pytest.fixture
async def db(infra):
    await migrate(infra.database_url, SCHEMA, MIGRATIONS)
    database = Database(infra.database_url, pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
async def bus(infra):
    """A NATS connection and a prefix of this test's own, so its lease bucket is fresh."""
    nc = await nats.connect(infra.nats_url)
    names = Names(f"{infra.prefix}l{uuid.uuid4().hex[:6]}")
    yield nc.jetstream(), names
    try:
        await nc.jetstream().delete_key_value(names.bucket(LEADER_BUCKET))
    finally:
        await nc.close()


async def _acquire(leadership: ConsumerLeadership, timeout: float = 10.0) -> bool:
    """Start ``leadership`` in the background and wait until it holds the lease."""
    stopping = asyncio.Event()
    started = asyncio.Event()

    async def workers(term_stopping: asyncio.Event) -> None:
        started.set()
        await term_stopping.wait()

    task = asyncio.create_task(leadership.run(stopping, workers))
    try:
        await asyncio.wait_for(started.wait(), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        # Stop the renewals without deleting the lease, as a stalled process would.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_lease_second_replica_waits(db, bus):
    js, names = bus
    first = ConsumerLeadership(js, db, names, LEASE)
    second = ConsumerLeadership(js, db, names, LEASE)

    assert await _acquire(first)
    assert not await _acquire(second, timeout=1.0)


async def test_fence_rejects_replaced_holder(db, bus):
    js, names = bus
    stalled = ConsumerLeadership(js, db, names, LEASE)
    successor = ConsumerLeadership(js, db, names, LEASE)
    assert await _acquire(stalled)

    # The stalled holder stops renewing, so the lease expires and the successor takes it.
    assert await _acquire(successor, timeout=10.0)

    async with db.session() as session:
        await successor.fence(session)
    with pytest.raises(LeadershipLost):
        async with db.session() as session:
            await stalled.fence(session)


async def test_epoch_increment_waits_for_batch_in_flight(db, bus):
    js, names = bus
    holder = ConsumerLeadership(js, db, names, LEASE)
    successor = ConsumerLeadership(js, db, names, LEASE)
    assert await _acquire(holder)

    async with db.session() as session:
        await holder.fence(session)
        increment = asyncio.create_task(successor._next_epoch())
        await asyncio.sleep(0.5)
        waited = not increment.done()
        await session.execute(text("SELECT 1"))
    new_epoch = await asyncio.wait_for(increment, 5)

    assert waited, "the epoch changed while the holder's batch transaction was open"
    assert new_epoch == holder.epoch + 1


async def test_release_lets_standby_take_over_at_once(db, bus):
    js, names = bus
    holder = ConsumerLeadership(js, db, names, FaultsSettings(lease_ttl=60, lease_renew_interval=0.5))
    standby = ConsumerLeadership(js, db, names, FaultsSettings(lease_ttl=60, lease_renew_interval=0.5))
    assert await _acquire(holder)

    await holder.release()

    assert await _acquire(standby, timeout=3.0)


@pytest.fixture(scope="module")
def two_replicas(infra):
    env = {**SERVICE_ENV, "HFD_FAULTS_CONSUMER_BATCH": "10"}
    first = start_stack(infra, "faults", **env)
    second = start_stack(infra, "faults", **env)
    # Either replica replies to a ping, so wait for each one's own log line.
    for stack in (first, second):
        asyncio.run(wait_until(_logged(stack, "service ready"), timeout=60))
    yield first, second
    second.stop()
    first.stop()


def _logged(stack, line: str):
    async def check() -> bool:
        return line in stack.log("faults")
    return check


async def _holder_pid(infra) -> str | None:
    """Return the process id of the lease holder, or None while the lease is free."""
    nc, names = await connect(infra)
    try:
        bucket = await nc.jetstream().key_value(names.bucket(LEADER_BUCKET))
        entry = await bucket.get(LEASE_KEY)
        return entry.value.decode().split("-", 1)[0]
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    finally:
        await nc.close()


async def test_standby_replica_counts_after_sigkill(infra, two_replicas):
    stacks = {str(stack.processes["faults"].pid): stack for stack in two_replicas}
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "lead1")
    total = 600

    holder = await wait_until(lambda: _holder_pid(infra), timeout=30)
    for first in range(0, total, 20):
        batch = log.batch([hadoop_line(spaced_time(i), "ERROR", DISK_FULL) for i in range(first, first + 20)])
        await publish(nc, names, *batch)
        if first == total // 2:
            stacks[holder].stop_service("faults", signal.SIGKILL)

    async def counted():
        items = await incidents_of(nc, names, cluster)
        return sum(item["count"] for item in items) == total and items
    items = await wait_until(counted, timeout=60, interval=0.5)
    new_holder = await _holder_pid(infra)
    await nc.close()

    assert new_holder in stacks
    assert new_holder != holder
    assert len(items) == 1
    assert items[0]["count"] == total
