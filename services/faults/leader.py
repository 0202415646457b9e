"""One faults replica at a time consumes the streams: a lease in JetStream KV, fenced in PostgreSQL.

Each replica keeps detection engines in memory (templates, repetition windows, burst
baselines), so two replicas reading one node's records would each see half of them. All
replicas serve the endpoints; only the holder of the ``consumers`` key in the
``faults_leader`` bucket runs the consumers and the upkeep loop. The others wait and take over
when the key expires, ``HFD_FAULTS_LEASE_TTL`` seconds after the holder's last renewal, or at
once when the holder stops cleanly and deletes it.

A lease alone cannot stop a holder that stalled past its TTL from committing one more batch
after a successor started. So each new holder increments ``faults.consumer_fence.epoch`` and
every batch transaction reads the epoch ``FOR SHARE`` and commits only while it is still its
own. The increment waits for batches in flight, and a stale holder's next batch fails and
stops its consumers.
"""

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.bus import ensure_kv
from libs.common.db import Database
from libs.common.names import Names
from services.faults.config import FaultsSettings

logger = logging.getLogger(__name__)

LEADER_BUCKET = "faults_leader"
LEASE_KEY = "consumers"

# The workers of one term as lease holder, which stop when their ``stopping`` event is set.
Workers = Callable[[asyncio.Event], Awaitable[None]]


class LeadershipLost(Exception):
    """Raised in a batch transaction when another replica took the consumers over."""


class ConsumerLeadership:
    """Takes, renews and gives up the consumers lease, and fences each batch with the epoch."""

    def __init__(self, js: JetStreamContext, db: Database, names: Names, settings: FaultsSettings) -> None:
        self.js = js
        self.db = db
        self.names = names
        self.settings = settings
        # The process id lets an operator (and the tests) tell which process holds the lease.
        self.replica_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.epoch: int | None = None
        self._revision: int | None = None
        self._term_stopping = asyncio.Event()
        self._bucket: KeyValue | None = None

    async def run(self, stopping: asyncio.Event, workers: Workers) -> None:
        """Wait for the lease, run ``workers`` while holding it, and start over when it is lost."""
        self._bucket = await ensure_kv(self.js, self.names.bucket(LEADER_BUCKET), ttl=self.settings.lease_ttl)
        logger.info("consumer lease waiting replica=%s ttl=%.1fs", self.replica_id, self.settings.lease_ttl)
        while not stopping.is_set():
            if await self._try_acquire():
                await self._serve_term(stopping, workers)
            if not stopping.is_set():
                await _wait(stopping, self.settings.lease_renew_interval)
        await self.release()

    async def fence(self, session: AsyncSession) -> None:
        """Raise ``LeadershipLost`` unless this replica's epoch is still the current one.

        Call it inside the batch transaction: the shared row lock it takes keeps a successor's
        increment waiting until this transaction ends.
        """
        row = await session.execute(text("SELECT epoch FROM faults.consumer_fence WHERE id = 1 FOR SHARE"))
        current = row.scalar_one()
        if self.epoch is None or current != self.epoch:
            self._term_stopping.set()
            raise LeadershipLost(f"consumer epoch changed to {current}; this replica's epoch is {self.epoch}")

    async def release(self) -> None:
        """Delete the lease if this replica holds it, so that a standby takes over at once."""
        revision, self._revision = self._revision, None
        if revision is None or self._bucket is None:
            return
        try:
            await self._bucket.delete(LEASE_KEY, last=revision)
            logger.info("consumer lease released replica=%s epoch=%s", self.replica_id, self.epoch)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            pass
        except Exception as error:  # NATS is down, so the lease expires by itself
            logger.warning("consumer lease release failed replica=%s error=%s", self.replica_id, error)

    async def _try_acquire(self) -> bool:
        assert self._bucket is not None
        try:
            self._revision = await self._bucket.create(LEASE_KEY, self.replica_id.encode())
        except KeyWrongLastSequenceError:
            return False  # the lease belongs to another replica
        except Exception as error:  # NATS is unreachable or has no JetStream leader yet, so retry next period
            logger.warning("consumer lease request failed replica=%s error=%s", self.replica_id, error)
            return False

        try:
            self.epoch = await self._next_epoch()
        except Exception:
            logger.exception("consumer fence update failed replica=%s", self.replica_id)
            await self.release()
            return False
        logger.info("consumer lease acquired replica=%s epoch=%d", self.replica_id, self.epoch)
        return True

    async def _next_epoch(self) -> int:
        async with self.db.session() as session:
            statement = text(
                "UPDATE faults.consumer_fence SET epoch = epoch + 1, holder = :holder, updated_at = now() "
                "WHERE id = 1 RETURNING epoch"
            )
            result = await session.execute(statement, {"holder": self.replica_id})
            return int(result.scalar_one())

    async def _serve_term(self, stopping: asyncio.Event, workers: Workers) -> None:
        """Run the workers and renew the lease until shutdown, a lost lease or a failed fence."""
        self._term_stopping = asyncio.Event()
        term = asyncio.create_task(workers(self._term_stopping), name="faults-consumers")
        try:
            while not stopping.is_set() and not self._term_stopping.is_set() and not term.done():
                await _wait(stopping, self.settings.lease_renew_interval, self._term_stopping)
                if not stopping.is_set() and not self._term_stopping.is_set():
                    await self._renew()
        finally:
            self._term_stopping.set()
            await asyncio.gather(term, return_exceptions=True)
        if stopping.is_set():
            return

        error = None if term.cancelled() else term.exception()
        if error is not None and not isinstance(error, LeadershipLost):
            logger.error("consumers crashed replica=%s epoch=%s", self.replica_id, self.epoch, exc_info=error)
        logger.warning("consumer lease term ended replica=%s epoch=%s", self.replica_id, self.epoch)
        await self.release()

    async def _renew(self) -> None:
        assert self._bucket is not None and self._revision is not None
        try:
            self._revision = await self._bucket.update(LEASE_KEY, self.replica_id.encode(), last=self._revision)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            # The lease expired (this replica stalled past the TTL) and may be another's now.
            logger.warning("consumer lease lost replica=%s epoch=%s", self.replica_id, self.epoch)
            self._revision = None
            self._term_stopping.set()
        except Exception as error:  # a NATS outage: keep consuming, because the fence guards the commits
            logger.warning("consumer lease renewal failed replica=%s error=%s", self.replica_id, error)


async def _wait(stopping: asyncio.Event, seconds: float, other: asyncio.Event | None = None) -> None:
    """Sleep ``seconds`` or until ``stopping`` (or ``other``) is set."""
    events = [stopping] if other is None else [stopping, other]
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
