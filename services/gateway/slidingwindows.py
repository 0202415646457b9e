"""Sliding windows of event times in a JetStream key-value bucket that every gateway replica shares.

Each key stores the times of the events in its window, at most ``limit`` of them, packed: a
version byte, the oldest event as signed 64-bit Unix milliseconds, then each event's offset from
it as unsigned 32-bit milliseconds, all little-endian. A full window of 100,000 events (the
largest limit the settings accept) is about 400 KB, below NATS's default 1 MB max payload.

Every write is a compare-and-set on the key's revision (``kv.create`` for a new key,
``kv.update(last=revision)`` otherwise), so when two replicas add an event to the same key at
once, one write fails. The loser reads the key again, checks the limit again and retries, up
to ``CAS_ATTEMPTS`` times. Keys expire with the bucket's TTL, which is at least the longest
window, so a key outlives its last event by at least one window.

Event times come from each replica's wall clock, so clock skew between hosts shifts a window
by the skew.
"""

import asyncio
import logging
import random
import struct
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from libs.common.bus import ensure_kv, raise_kv_ttl, retry_while_unavailable

logger = logging.getLogger(__name__)

# Conflicting writes to one key before the store gives up. Each round lets at least one writer
# through, so this many requests on one key at the same moment all succeed.
CAS_ATTEMPTS = 10
# After the n-th lost write a writer sleeps a random time up to n times this, so that the
# losers of one round do not all collide again in the next.
CONFLICT_BACKOFF_SECONDS = 0.002
FORMAT_VERSION = 1
HEADER = struct.Struct("<Bq")
MAX_OFFSET_MS = 2**32 - 1


@dataclass(frozen=True)
class Window:
    """One kind of limit: at most ``limit`` events per key in any ``seconds``, with ``kind`` as the key prefix."""

    kind: str
    limit: int
    seconds: float

    @property
    def milliseconds(self) -> int:
        return round(self.seconds * 1000)


@dataclass(frozen=True)
class Snapshot:
    """The events (Unix milliseconds, oldest first) of one key at ``revision``, which is None for a missing key."""

    events: tuple[int, ...]
    revision: int | None


@dataclass(frozen=True)
class Reservation:
    """An event this replica added to a key, with the key's state right after the write."""

    window: Window
    key: str
    event: int
    written: Snapshot


class StoreUnavailable(Exception):
    """The bucket could not be read or written (NATS unreachable, timed out or without a JetStream leader)."""


class WindowFull(Exception):
    """The window has ``limit`` events, and allows another in ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"window full; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class WindowContended(Exception):
    """Every one of ``CAS_ATTEMPTS`` writes to a key lost to a concurrent write."""


def retry_after(window: Window, snapshot: Snapshot, now: int) -> float:
    """Return seconds until ``window`` allows another event at Unix milliseconds ``now``, 0 when it allows one."""
    events = live_events(window, snapshot.events, now)
    if len(events) < window.limit:
        return 0.0
    return (events[-window.limit] + window.milliseconds - now) / 1000


def live_events(window: Window, events: tuple[int, ...], now: int) -> tuple[int, ...]:
    """Return the events still inside the window, at most the newest ``limit`` of them."""
    cutoff = now - window.milliseconds
    return tuple(event for event in events if event > cutoff)[-window.limit :]


class WindowStore:
    """Reads and compare-and-set writes of sliding windows in one key-value bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, nc: Client, bucket: str, ttl: float, timeout: float) -> "WindowStore":
        """Open ``bucket``, creating it with ``ttl`` or raising a shorter TTL of an existing bucket.

        Reads and writes then wait ``timeout`` seconds each before ``StoreUnavailable``.
        """
        js = nc.jetstream()
        kv = await ensure_kv(js, bucket, ttl=ttl)
        await raise_kv_ttl(js, kv, bucket, ttl)
        short_js = nc.jetstream(timeout=timeout)
        return cls(await retry_while_unavailable(f"info of bucket {bucket}", lambda: short_js.key_value(bucket)))

    async def read(self, window: Window, key: str) -> Snapshot:
        """Return the events stored under ``key``, none for a missing key."""
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return Snapshot((), None)
        except (nats.errors.Error, TimeoutError) as error:
            raise StoreUnavailable(f"read of {window.kind} failed: {type(error).__name__}") from error
        return Snapshot(unpack(entry.value or b"", key), entry.revision)

    async def add(self, window: Window, key: str, now: int, snapshot: Snapshot | None = None) -> Reservation:
        """Add an event at Unix milliseconds ``now`` unless the window is full, starting from ``snapshot``.

        Raises ``WindowFull`` when the window has no room (also after a lost write), and
        ``WindowContended`` after ``CAS_ATTEMPTS`` lost writes.
        """
        for attempt in range(CAS_ATTEMPTS):
            if snapshot is None:
                await _back_off(attempt)
                snapshot = await self.read(window, key)
            wait = retry_after(window, snapshot, now)
            if wait > 0:
                raise WindowFull(wait)
            events = tuple(sorted((*live_events(window, snapshot.events, now), now)))
            written = await self._write(window, key, events, snapshot.revision)
            if written is not None:
                return Reservation(window, key, now, written)
            snapshot = None
        logger.warning("rate limit write contended kind=%s key=%s attempts=%d", window.kind, key, CAS_ATTEMPTS)
        raise WindowContended(key)

    async def remove(self, reservation: Reservation, now: int) -> None:
        """Remove the event of ``reservation`` unless it has already left the window."""
        window, key = reservation.window, reservation.key
        snapshot: Snapshot | None = reservation.written
        for attempt in range(CAS_ATTEMPTS):
            if snapshot is None:
                await _back_off(attempt)
                snapshot = await self.read(window, key)
            events = list(live_events(window, snapshot.events, now))
            if reservation.event not in events:
                return
            events.remove(reservation.event)
            if await self._write(window, key, tuple(events), snapshot.revision) is not None:
                return
            snapshot = None
        logger.warning("rate limit event not removed kind=%s key=%s attempts=%d", window.kind, key, CAS_ATTEMPTS)

    async def clear(self, window: Window, key: str) -> None:
        """Drop every event of ``key``, whatever other replicas wrote to it meanwhile."""
        try:
            await self.kv.put(key, pack(()))
        except (nats.errors.Error, TimeoutError) as error:
            raise StoreUnavailable(f"clear of {window.kind} failed: {type(error).__name__}") from error

    async def _write(self, window: Window, key: str, events: tuple[int, ...], revision: int | None) -> Snapshot | None:
        """Write ``events`` if ``key`` is still at ``revision``, and return None when another write came first."""
        value = pack(events)
        try:
            if revision is None:
                written = await self.kv.create(key, value)
            else:
                written = await self.kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            return None
        except (nats.errors.Error, TimeoutError) as error:
            raise StoreUnavailable(f"write of {window.kind} failed: {type(error).__name__}") from error
        return Snapshot(events, written)


async def _back_off(attempt: int) -> None:
    """Sleep a random time before re-reading a key whose write was lost, and not before the first read."""
    if attempt > 0:
        await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * attempt))  # noqa: S311 - jitter, not a secret


def pack(events: tuple[int, ...]) -> bytes:
    """Encode sorted event times (Unix milliseconds) as the header and 32-bit offsets from the oldest."""
    base = events[0] if events else 0
    offsets = [min(event - base, MAX_OFFSET_MS) for event in events]
    return HEADER.pack(FORMAT_VERSION, base) + struct.pack(f"<{len(offsets)}I", *offsets)


def unpack(value: bytes, key: str) -> tuple[int, ...]:
    """Decode ``pack``'s output, logging a malformed value and returning no events for it."""
    body_size = len(value) - HEADER.size
    if body_size < 0 or body_size % 4 or value[0] != FORMAT_VERSION:
        logger.warning("rate limit value malformed; counted as empty key=%s size=%d", key, len(value))
        return ()
    _, base = HEADER.unpack_from(value)
    offsets = struct.unpack_from(f"<{body_size // 4}I", value, HEADER.size)
    return tuple(sorted(base + offset for offset in offsets))
