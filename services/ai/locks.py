"""PostgreSQL advisory locks that serialise the AI service's replicas.

All replicas use one database, so a lock taken there excludes the other replicas as well as
other tasks of the same process. The locks are session-level, and every ``LockSession`` is a
PostgreSQL connection of its own, opened for one hold and closed after it. Closing the
connection ends the server session, which releases every lock it took, and the server does
the same when a replica dies and its connection drops. A transaction-level lock would instead
keep a transaction open across a diagnosis or a repair run, which can last minutes.

Keys use the two-key form ``pg_advisory_lock(int4, int4)``. The first key is a ``LockKind``,
the second a 32-bit hash of the locked object's id. PostgreSQL keeps the two-key space apart
from the one-key (bigint) space that the schema migrations, the auth service and the faults
service use, so these locks never meet theirs. Two ids of one kind with equal hashes share a
lock: one then waits for the other, or ``try_acquire`` returns False for it. For two ids held
at the same time that happens with a probability of about 2**-32.
"""

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum
from types import TracebackType

import asyncpg
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

# The server probes an idle lock connection after 30 s and drops it after 3 unanswered probes
# 10 s apart. A replica whose host vanishes without closing its TCP connections thus loses its
# locks after about a minute, rather than after the operating system's default (2 hours on
# Linux). The settings apply to TCP connections only; PostgreSQL ignores them on Unix sockets.
KEEPALIVE_SETTINGS = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}
CLOSE_TIMEOUT_SECONDS = 5.0


class LockKind(IntEnum):
    """The first key of an advisory lock, naming what kind of object the second key hashes.

    The values start with "AI" in ASCII (0x4149). No other service uses the two-key form, and
    one that starts to must pick values of its own.
    """

    INCIDENT_EVENTS = 0x4149_0001
    INCIDENT_REPAIRS = 0x4149_0002
    CLUSTER_REPAIRS = 0x4149_0003


def object_key(object_id: str) -> int:
    """Hash ``object_id`` to a signed 32-bit key that every process computes alike."""
    digest = hashlib.blake2b(object_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


class LockTimeout(Exception):
    """A wait for a lock that timed out because another session kept holding it."""


class LockSession:
    """One PostgreSQL session and the advisory locks it holds; ``async with`` closes it.

    Leaving the ``async with`` block normally closes the connection gracefully. Leaving it by
    an exception, a cancellation included, drops the connection at once, because a cancelled
    ``pg_advisory_lock`` may still be waiting on the server.
    """

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def acquire(self, kind: LockKind, object_id: str, *, timeout: float | None = None) -> None:
        """Wait for the lock on ``object_id``; raise LockTimeout after ``timeout`` seconds (None: no limit)."""
        lock_timeout = "0" if timeout is None else f"{max(1, round(timeout * 1000))}ms"
        await self._connection.execute("SELECT set_config('lock_timeout', $1, false)", lock_timeout)
        try:
            await self._connection.execute("SELECT pg_advisory_lock($1, $2)", int(kind), object_key(object_id))
        except asyncpg.LockNotAvailableError as error:
            message = f"timed out after {timeout} s waiting for the {kind.name} lock on {object_id!r}"
            raise LockTimeout(message) from error

    async def try_acquire(self, kind: LockKind, object_id: str) -> bool:
        """Take the lock on ``object_id`` if no other session holds it; return whether it was taken."""
        statement = "SELECT pg_try_advisory_lock($1, $2)"
        return bool(await self._connection.fetchval(statement, int(kind), object_key(object_id)))

    async def close(self) -> None:
        """Close the connection, which releases every lock of the session."""
        try:
            await self._connection.close(timeout=CLOSE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # asyncpg has already dropped the connection, so the server ends the session anyway.
            logger.warning("lock connection not closed cleanly, dropped error=%s", type(error).__name__)

    def abort(self) -> None:
        """Drop the connection without waiting; the server then ends the session and its locks."""
        if not self._connection.is_closed():
            self._connection.terminate()

    @property
    def closed(self) -> bool:
        return self._connection.is_closed()

    async def __aenter__(self) -> "LockSession":
        return self

    async def __aexit__(
        self, error_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error_type is None:
            await self.close()
        else:
            self.abort()


class AdvisoryLocks:
    """Opens lock sessions on the service's database."""

    def __init__(self, database_url: str) -> None:
        # asyncpg takes a libpq-style URL, without SQLAlchemy's "+asyncpg" driver suffix.
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def open(self) -> LockSession:
        """Open a new connection for locks; the caller closes it (``async with``) to release them."""
        connection = await asyncpg.connect(self._dsn, server_settings=KEEPALIVE_SETTINGS)
        return LockSession(connection)

    @asynccontextmanager
    async def hold(self, kind: LockKind, object_id: str, *, timeout: float | None = None) -> AsyncIterator[LockSession]:
        """Open a session, wait for one lock in it, and close the session when the block ends."""
        async with await self.open() as session:
            await session.acquire(kind, object_id, timeout=timeout)
            yield session
