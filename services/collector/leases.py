"""Node leases in JetStream key-value buckets, so that several collector replicas split the nodes.

Each replica writes a heartbeat to the ``collector_members`` bucket and claims nodes in the
``collector_leases`` bucket with ``create``, which succeeds for the first writer only. It
renews each lease with ``update`` on the revision it holds. Both buckets expire entries after
``HFD_COLLECTOR_LEASE_TTL`` seconds, so the leases of a replica that died disappear and the
next scan of another replica claims them. The new holder resumes from the (inode, offset)
stored in ``collector.file_positions``. A batch published twice around the handover carries
the same message id, so JetStream drops the second copy.

Two replicas must never read one node at the same time. If they do, a batch of the old holder
and a longer batch of the new one can start at the same offset and so share a message id.
JetStream stores the first and drops the second, and with it the records that only the second
contained. A replica that cannot renew (NATS unreachable, or a stream leader being elected)
therefore stops reading a node on its own before the lease can expire on the server:
``expiry_margin`` seconds before the TTL, counted from when its last successful renewal was
sent.
"""

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

from libs.common.bus import ensure_kv, retry_while_unavailable
from libs.common.names import Names
from services.collector.config import CollectorSettings

logger = logging.getLogger(__name__)

LEASES_BUCKET = "collector_leases"
MEMBERS_BUCKET = "collector_members"
# How often the watchdog compares the leases' last renewals with the TTL.
WATCHDOG_INTERVAL_SECONDS = 0.25

NodeLister = Callable[[], Awaitable[list[str]]]
NodeCallback = Callable[[str], Awaitable[None]]


def new_replica_id() -> str:
    """Return a new id of this collector process, ``<pid>-<random hex>``.

    The process id lets an operator (and the tests) tell which process holds a lease.
    """
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


class NodeLeases:
    """Claims, renews and releases this replica's node leases on a fixed period."""

    def __init__(
        self,
        js: JetStreamContext,
        names: Names,
        settings: CollectorSettings,
        *,
        list_nodes: NodeLister,
        on_claimed: NodeCallback,
        on_lost: NodeCallback,
        replica_id: str | None = None,
    ) -> None:
        self.js = js
        self.names = names
        self.settings = settings
        self.replica_id = replica_id or new_replica_id()
        self.list_nodes = list_nodes
        self.on_claimed = on_claimed
        self.on_lost = on_lost
        self.held: dict[str, int] = {}
        # time.monotonic() at which the request that last created or renewed each lease was sent.
        self.renewed_at: dict[str, float] = {}
        self.wake = asyncio.Event()
        self._leases: KeyValue | None = None
        self._members: KeyValue | None = None

    def holds(self, node_uuid: str) -> bool:
        return node_uuid in self.held

    async def open(self) -> None:
        ttl = self.settings.lease_ttl
        self._leases = await ensure_kv(self.js, self.names.bucket(LEASES_BUCKET), ttl=ttl)
        self._members = await ensure_kv(self.js, self.names.bucket(MEMBERS_BUCKET), ttl=ttl)
        await retry_while_unavailable(f"heartbeat of collector replica {self.replica_id}", self._heartbeat)
        logger.info("node leases opened replica=%s ttl=%.1fs", self.replica_id, ttl)

    @property
    def expiry_margin(self) -> float:
        """Seconds before the server-side expiry at which this replica gives up an unrenewed lease."""
        return min(self.settings.lease_renew_interval, self.settings.lease_ttl / 2)

    async def run(self, stopping: asyncio.Event) -> None:
        """Heartbeat, renew and claim every ``HFD_COLLECTOR_LEASE_RENEW_INTERVAL`` seconds, or when woken.

        A watchdog runs beside the rounds, because a round can block on NATS for longer than a lease lives.
        """
        watchdog = asyncio.create_task(self._drop_unrenewed(stopping), name="collector-lease-watchdog")
        try:
            await self._run_rounds(stopping)
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def _run_rounds(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.tick()
            except Exception:  # a NATS outage: the leases expire if it lasts, and the next tick retries
                logger.exception("node lease round failed replica=%s held=%d", self.replica_id, len(self.held))
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.lease_renew_interval)
            except TimeoutError:
                pass
            self.wake.clear()

    async def tick(self) -> None:
        await self._heartbeat()
        await self._renew()
        await self._claim()

    async def release_all(self) -> None:
        """Delete this replica's leases and heartbeat, so that other replicas take over at once."""
        assert self._leases is not None and self._members is not None
        for node_uuid, revision in list(self.held.items()):
            try:
                await self._leases.delete(node_uuid, last=revision)
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                pass
        self.held.clear()
        self.renewed_at.clear()
        try:
            await self._members.delete(self.replica_id)
        except KeyNotFoundError:
            pass
        logger.info("node leases released replica=%s", self.replica_id)

    async def _heartbeat(self) -> None:
        assert self._members is not None
        await self._members.put(self.replica_id, b"alive")

    async def _renew(self) -> None:
        assert self._leases is not None
        for node_uuid, revision in list(self.held.items()):
            sent = time.monotonic()
            try:
                new_revision = await self._leases.update(node_uuid, self.replica_id.encode(), last=revision)
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                # The lease expired (this replica stalled for longer than the TTL) and may be
                # held by another replica now, so this one must stop reading the node.
                if self.held.pop(node_uuid, None) is not None:
                    self.renewed_at.pop(node_uuid, None)
                    logger.warning("node lease lost node=%s replica=%s", node_uuid, self.replica_id)
                    await self.on_lost(node_uuid)
                continue
            dropped = node_uuid not in self.held
            self.held[node_uuid] = new_revision
            self.renewed_at[node_uuid] = sent
            if dropped:
                # The watchdog stopped the node while this renewal was in flight. The renewal
                # matched this replica's revision, so no other replica took the lease meanwhile.
                logger.info("node lease renewed late; collecting again node=%s replica=%s", node_uuid, self.replica_id)
                await self.on_claimed(node_uuid)

    async def _drop_unrenewed(self, stopping: asyncio.Event) -> None:
        """Stop reading every node whose lease was not renewed in time, without waiting for NATS."""
        ttl = self.settings.lease_ttl
        while not stopping.is_set():
            now = time.monotonic()
            for node_uuid, sent in list(self.renewed_at.items()):
                if now < sent + ttl - self.expiry_margin or node_uuid not in self.held:
                    continue
                self.held.pop(node_uuid, None)
                self.renewed_at.pop(node_uuid, None)
                logger.warning(
                    "node lease not renewed for %.1fs; collection stopped node=%s replica=%s",
                    now - sent,
                    node_uuid,
                    self.replica_id,
                )
                try:
                    await self.on_lost(node_uuid)
                except Exception:  # the watchdog must keep guarding the other leases
                    logger.exception("stopping collection failed node=%s replica=%s", node_uuid, self.replica_id)
            await asyncio.sleep(WATCHDOG_INTERVAL_SECONDS)

    async def _claim(self) -> None:
        assert self._leases is not None
        allowed = self.settings.owned_node_set()
        nodes = [node for node in await self.list_nodes() if not allowed or node in allowed]
        for node_uuid in list(self.held):
            if node_uuid not in nodes:
                await self._release(node_uuid)

        share = math.ceil(len(nodes) / await self._live_replicas())
        limit = share + 1
        if len(self.held) > limit:
            # A replica joined: hand back nodes down to the even share. The slack of one node
            # keeps replicas from passing nodes back and forth when the count does not divide.
            for node_uuid in sorted(self.held)[share:]:
                await self._release(node_uuid)
            # Claim again only next period, so the joining replica gets a chance at these nodes.
            return
        for node_uuid in nodes:
            if len(self.held) >= limit:
                break
            if node_uuid in self.held:
                continue
            sent = time.monotonic()
            try:
                self.held[node_uuid] = await self._leases.create(node_uuid, self.replica_id.encode())
            except KeyWrongLastSequenceError:
                continue  # another replica holds it
            self.renewed_at[node_uuid] = sent
            logger.info("node lease claimed node=%s replica=%s held=%d", node_uuid, self.replica_id, len(self.held))
            await self.on_claimed(node_uuid)

    async def _live_replicas(self) -> int:
        assert self._members is not None
        try:
            return max(1, len(await self._members.keys()))
        except NoKeysError:
            return 1

    async def _release(self, node_uuid: str) -> None:
        """Stop reading the node, then delete its lease, so that two replicas never read it at once."""
        assert self._leases is not None
        revision = self.held.pop(node_uuid, None)
        self.renewed_at.pop(node_uuid, None)
        if revision is None:
            return  # the watchdog stopped the node already
        await self.on_lost(node_uuid)
        try:
            await self._leases.delete(node_uuid, last=revision)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            pass
        logger.info("node lease released node=%s replica=%s held=%d", node_uuid, self.replica_id, len(self.held))
