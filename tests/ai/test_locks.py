"""The advisory lock helper against the real PostgreSQL: exclusion, release, kinds, crashes."""

import asyncio
import signal
import sys
import textwrap

import asyncpg
import pytest

from services.ai.locks import AdvisoryLocks, LockKind, LockTimeout, object_key
from tests.infra import REPO_ROOT

INCIDENT = "incident-lock-test"


@pytest.fixture
def locks(infra) -> AdvisoryLocks:
    return AdvisoryLocks(infra.database_url)


def connect(infra):
    return asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))


async def holders(infra, kind: LockKind, object_id: str) -> int:
    """Count the sessions that hold the advisory lock ``(kind, object_id)``."""
    connection = await connect(infra)
    try:
        # In pg_locks, a two-key advisory lock has classid = key 1, objid = key 2 and objsubid = 2.
        statement = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = $1::bigint::oid AND objid = ($2::bigint & 4294967295)::oid AND objsubid = 2"
        )
        return await connection.fetchval(statement, int(kind), object_key(object_id))
    finally:
        await connection.close()


async def wait_released(infra, kind: LockKind, object_id: str, timeout: float = 5.0) -> int:
    """Poll until no session holds the lock; return the holder count at the end.

    The server ends a closed connection's session, and frees its locks, shortly after the close returns.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    count = await holders(infra, kind, object_id)
    while count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        count = await holders(infra, kind, object_id)
    return count


async def test_lock_excludes_second_connection(locks):
    async with locks.hold(LockKind.INCIDENT_EVENTS, INCIDENT), await locks.open() as second:
        assert await second.try_acquire(LockKind.INCIDENT_EVENTS, INCIDENT) is False
        with pytest.raises(LockTimeout):
            await second.acquire(LockKind.INCIDENT_EVENTS, INCIDENT, timeout=0.2)


async def test_lock_released_when_holder_closes(infra, locks):
    first = await locks.open()
    assert await first.try_acquire(LockKind.INCIDENT_EVENTS, INCIDENT) is True
    assert await holders(infra, LockKind.INCIDENT_EVENTS, INCIDENT) == 1

    await first.close()

    assert await wait_released(infra, LockKind.INCIDENT_EVENTS, INCIDENT) == 0
    async with await locks.open() as second:
        assert await second.try_acquire(LockKind.INCIDENT_EVENTS, INCIDENT) is True


async def test_waiting_acquire_gets_released_lock(locks):
    first = await locks.open()
    await first.acquire(LockKind.CLUSTER_REPAIRS, "cluster-a")

    async def wait_for_lock() -> None:
        async with locks.hold(LockKind.CLUSTER_REPAIRS, "cluster-a", timeout=10):
            pass

    waiter = asyncio.create_task(wait_for_lock())
    await asyncio.sleep(0.5)
    assert not waiter.done()

    await first.close()
    await asyncio.wait_for(waiter, timeout=5)


async def test_cancelled_wait_leaves_no_lock(infra, locks):
    first = await locks.open()
    await first.acquire(LockKind.CLUSTER_REPAIRS, "cluster-b")
    entered = asyncio.Event()

    async def wait_for_lock() -> None:
        async with locks.hold(LockKind.CLUSTER_REPAIRS, "cluster-b"):
            entered.set()

    waiter = asyncio.create_task(wait_for_lock())
    await asyncio.sleep(0.5)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await first.close()

    # The cancelled waiter's connection is dropped, so its request on the server cannot take the lock later.
    assert await wait_released(infra, LockKind.CLUSTER_REPAIRS, "cluster-b") == 0
    await asyncio.sleep(0.5)
    assert await holders(infra, LockKind.CLUSTER_REPAIRS, "cluster-b") == 0
    assert not entered.is_set()


async def test_lock_kinds_do_not_collide(locks):
    async with locks.hold(LockKind.INCIDENT_EVENTS, "same-id"), await locks.open() as second:
        assert await second.try_acquire(LockKind.INCIDENT_REPAIRS, "same-id") is True
        assert await second.try_acquire(LockKind.CLUSTER_REPAIRS, "same-id") is True


async def test_lock_apart_from_one_key_locks(infra, locks):
    # The bigint that packs both keys names a lock of the one-key space, which other services use.
    packed = (int(LockKind.INCIDENT_EVENTS) << 32) | (object_key(INCIDENT) & 0xFFFFFFFF)
    other = await connect(infra)
    try:
        async with locks.hold(LockKind.INCIDENT_EVENTS, INCIDENT):
            assert await other.fetchval("SELECT pg_try_advisory_lock($1::bigint)", packed) is True
    finally:
        await other.close()


def test_object_key_is_stable_int4():
    assert object_key("cluster-a") == object_key("cluster-a")
    assert object_key("cluster-a") != object_key("cluster-b")
    assert -(2**31) <= object_key("cluster-a") < 2**31


HOLDER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from services.ai.locks import AdvisoryLocks, LockKind

    async def main():
        session = await AdvisoryLocks(sys.argv[1]).open()
        await session.acquire(LockKind.INCIDENT_REPAIRS, sys.argv[2])
        print("held", flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def test_lock_released_when_holder_process_killed(infra, locks):
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER_SCRIPT, infra.database_url, INCIDENT, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=30)
        assert line.decode().strip() == "held"
        async with await locks.open() as second:
            assert await second.try_acquire(LockKind.INCIDENT_REPAIRS, INCIDENT) is False

            holder.send_signal(signal.SIGKILL)
            await asyncio.wait_for(holder.wait(), timeout=10)

            await second.acquire(LockKind.INCIDENT_REPAIRS, INCIDENT, timeout=10)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
