"""The durable consumer of the METRICS stream: samples and reachability reports into the database.

A batch is stored in one transaction before it is acknowledged. Samples are unique per node
and time, and node rows only move forward in time, so a redelivered batch changes nothing.

An event may name a node that inventory has not committed yet, because registration hands a
node to the collector inside its transaction and the collector may connect and publish first.
Such events wait in memory and are retried every second for ``unknown_node_wait_seconds``,
then dropped and counted as ``unknown_node``.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from libs.common.consumer import run_consumer
from libs.common.names import Names
from libs.common.timeutil import utcnow
from services.inventory import samples, service, telemetry
from services.inventory.context import InventoryContext
from services.inventory.metric_events import DecodedBatch, MetricEvent, WarningLimiter, decode, percent
from services.inventory.samples import EventNode, Reachability, SampleRow

logger = logging.getLogger(__name__)

DURABLE = "inventory-metrics"
MAX_ERROR_LENGTH = 2000
RETRY_INTERVAL_SECONDS = 1.0
MAX_WAITING_EVENTS = 10_000


@dataclass(frozen=True)
class WaitingEvent:
    """An event whose node was not found, with the ``time.monotonic()`` of the first attempt."""

    first_seen: float
    event: MetricEvent


class MetricsIngest:
    """The METRICS consumer, which keeps events of nodes not yet visible for a short retry."""

    def __init__(self, ctx: InventoryContext) -> None:
        self.ctx = ctx
        self.waiting: list[WaitingEvent] = []
        self.warnings = WarningLimiter()
        self._lock = asyncio.Lock()

    async def run(self, js: JetStreamContext, names: Names, stopping: asyncio.Event) -> None:
        """Run the durable METRICS consumer and the retry of waiting events until ``stopping`` is set."""
        retries = asyncio.create_task(self._retry_waiting(stopping), name="metrics-retry")
        try:
            await run_consumer(
                js,
                stream=names.stream("METRICS"),
                durable=names.durable(DURABLE),
                filter_subject=names.stream_subjects("METRICS")[0],
                handler=self.store_messages,
                stopping=stopping,
                batch=self.ctx.settings.consumer_batch,
            )
        finally:
            retries.cancel()
            await asyncio.gather(retries, return_exceptions=True)

    async def store_messages(self, messages: list[Msg]) -> None:
        max_future = timedelta(seconds=self.ctx.settings.max_future_seconds)
        await self.store(decode(messages, now=utcnow(), max_future=max_future, warnings=self.warnings))

    async def _retry_waiting(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=RETRY_INTERVAL_SECONDS)
            if not self.waiting or stopping.is_set():
                continue
            try:
                await self.store(DecodedBatch())
            except Exception:
                logger.exception("retry of waiting metrics events failed count=%d", len(self.waiting))

    async def store(self, batch: DecodedBatch) -> None:
        """Store ``batch`` together with the waiting events; on failure the waiting events are kept."""
        async with self._lock:
            waiting, self.waiting = self.waiting, []
            for item in waiting:
                batch.add(item.event)
            try:
                await self._store(batch, {id(item.event): item.first_seen for item in waiting})
            except BaseException:
                self.waiting = waiting + self.waiting
                raise

    async def _store(self, batch: DecodedBatch, first_seen: dict[int, float]) -> None:
        now = utcnow()
        keys = {(event.cluster, event.node) for event in batch.events()}
        if not keys:
            _count_skipped(batch.skipped)
            return

        async with self.ctx.db.session() as session:
            found = await samples.resolve_event_nodes(session, keys=keys)
            rows = _sample_rows(batch, found)
            reports = _reachability(batch, found)
            inserted = await samples.store_samples(session, rows=list(rows.values()))
            await samples.apply_latest(session, rows=_newest_per_node(rows.values()))
            await samples.apply_reachability(session, events=reports)
            touched = {row.node_uuid for row in rows.values()} | {report.node_uuid for report in reports}
            changed = await samples.refresh_status(
                session,
                node_uuids=touched,
                stale_before=now - timedelta(seconds=self.ctx.settings.heartbeat_timeout_seconds),
                warning_percent=self.ctx.settings.warning_percent,
            )
            await service.refresh_health(session, cluster_uuids=changed)

        self._hold_unknown(batch, found, first_seen)
        telemetry.SAMPLES_STORED.inc(inserted)
        batch.skip("duplicate", len(rows) - inserted)
        _count_skipped(batch.skipped)
        for report in reports:
            telemetry.STATUS_EVENTS.labels(str(report.reachable).lower()).inc()

    def _hold_unknown(self, batch: DecodedBatch, found: dict, first_seen: dict[int, float]) -> None:
        """Keep events of unknown nodes for another try, or drop those that waited long enough."""
        now = time.monotonic()
        wait = self.ctx.settings.unknown_node_wait_seconds
        for event in batch.events():
            if (event.cluster, event.node) in found:
                continue
            started = first_seen.get(id(event), now)
            if now - started < wait and len(self.waiting) < MAX_WAITING_EVENTS:
                self.waiting.append(WaitingEvent(started, event))
                continue
            batch.skip("unknown_node")
            if self.warnings.allow(("unknown", event.cluster, event.node)):
                logger.warning("metrics event for unknown node dropped cluster=%s node=%s", event.cluster, event.node)


def _live_target(batch: DecodedBatch, found: dict, cluster: str, node: str) -> EventNode | None:
    """Return the event's node when it is known and its cluster is live; count a deleted cluster."""
    target = found.get((cluster, node))
    if target is not None and target.cluster_deleted:
        batch.skip("deleted_cluster")
        return None
    return target


def _sample_rows(batch: DecodedBatch, found: dict) -> dict[tuple, SampleRow]:
    """Turn samples into rows, one per (node, time); a repeat within the batch counts as a duplicate."""
    rows: dict[tuple, SampleRow] = {}
    for event in batch.samples:
        target = _live_target(batch, found, event.cluster, event.node)
        if target is None:
            continue
        if (target.node_uuid, event.sampled_at) in rows:
            batch.skip("duplicate")
            continue
        rows[(target.node_uuid, event.sampled_at)] = SampleRow(
            node_uuid=target.node_uuid,
            cluster_uuid=target.cluster_uuid,
            sampled_at=event.sampled_at,
            cpu_percent=percent(event.cpu_percent),
            memory_percent=percent(event.memory_percent),
            disk_percent=percent(event.disk_percent),
        )
    return rows


def _newest_per_node(rows) -> list[SampleRow]:
    newest: dict = {}
    for row in rows:
        if row.node_uuid not in newest or row.sampled_at > newest[row.node_uuid].sampled_at:
            newest[row.node_uuid] = row
    return list(newest.values())


def _reachability(batch: DecodedBatch, found: dict) -> list[Reachability]:
    """Keep each node's newest reachability report of the batch."""
    newest: dict = {}
    for event in batch.statuses:
        target = _live_target(batch, found, event.cluster, event.node)
        if target is None:
            continue
        report = Reachability(
            node_uuid=target.node_uuid,
            reachable=event.reachable,
            observed_at=event.observed_at,
            error=event.error[:MAX_ERROR_LENGTH] if event.error else None,
        )
        current = newest.get(target.node_uuid)
        if current is None or report.observed_at > current.observed_at:
            newest[target.node_uuid] = report
    return list(newest.values())


def _count_skipped(skipped: dict[str, int]) -> None:
    for reason, count in skipped.items():
        if count > 0:
            telemetry.SAMPLES_SKIPPED.labels(reason).inc(count)
