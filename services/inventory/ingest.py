"""The durable consumer of the METRICS stream: samples and reachability reports into the database.

``metrics.<cluster>.<node>`` carries ``MetricSample`` and ``metrics.<cluster>.<node>.status``
carries ``NodeStatusEvent``. The event's ``cluster`` and ``node`` fields may be uuids or names.
A batch is stored in one transaction before it is acknowledged. Samples are unique per node
and time and node rows only move forward in time, so a redelivered batch changes nothing.
"""

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from libs.common.consumer import run_consumer
from libs.common.events import MetricSample, NodeStatusEvent
from libs.common.names import Names
from libs.common.timeutil import utcnow
from services.inventory import samples, service, telemetry
from services.inventory.context import InventoryContext
from services.inventory.samples import Reachability, SampleRow

logger = logging.getLogger(__name__)

DURABLE = "inventory-metrics"
SUPPORTED_VERSION = 1
WARNING_INTERVAL_SECONDS = 300.0
MAX_ERROR_LENGTH = 2000


@dataclass
class DecodedBatch:
    """A batch's events by kind; ``skipped`` counts messages dropped while decoding, by reason."""

    samples: list[MetricSample] = field(default_factory=list)
    statuses: list[NodeStatusEvent] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def keys(self) -> set[tuple[str, str]]:
        return {(event.cluster, event.node) for event in [*self.samples, *self.statuses]}


class WarningLimiter:
    """Allows one warning per key per interval, so a node that keeps sending bad data logs rarely."""

    def __init__(self, interval: float = WARNING_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._last: dict[object, float] = {}

    def allow(self, key: object) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) < self.interval:
            return False
        self._last[key] = now
        return True


_warnings = WarningLimiter()


async def consume_metrics(ctx: InventoryContext, js: JetStreamContext, names: Names, stopping: asyncio.Event) -> None:
    """Run the durable METRICS consumer until ``stopping`` is set."""

    async def handle(messages: list[Msg]) -> None:
        await store_batch(ctx, messages)

    await run_consumer(
        js,
        stream=names.stream("METRICS"),
        durable=names.durable(DURABLE),
        filter_subject=names.stream_subjects("METRICS")[0],
        handler=handle,
        stopping=stopping,
        batch=ctx.settings.consumer_batch,
    )


def decode(messages: list[Msg], *, now: datetime, max_future: timedelta) -> DecodedBatch:
    """Parse each message as a sample or a reachability report; skip and count what cannot be used."""
    batch = DecodedBatch()
    for message in messages:
        is_status = message.subject.endswith(".status")
        try:
            data = json.loads(message.data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            batch.skip("invalid")
            continue
        if not isinstance(data, dict) or data.get("schema_version") != SUPPORTED_VERSION:
            if _warnings.allow(("version", message.subject)):
                logger.warning("metrics event skipped: unsupported schema_version subject=%s", message.subject)
            batch.skip("version")
            continue
        try:
            event = (NodeStatusEvent if is_status else MetricSample).model_validate(data)
        except ValidationError as error:
            if _warnings.allow(("invalid", message.subject)):
                logger.warning(
                    "metrics event skipped: invalid subject=%s errors=%d", message.subject, error.error_count()
                )
            batch.skip("invalid")
            continue

        moment = _aware(event.observed_at if is_status else event.sampled_at)
        if moment > now + max_future:
            batch.skip("future")
            continue
        if is_status:
            batch.statuses.append(event.model_copy(update={"observed_at": moment}))
        else:
            batch.samples.append(event.model_copy(update={"sampled_at": moment}))
    return batch


def _aware(moment: datetime) -> datetime:
    """Treat a time without an offset as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def percent(value: float | None) -> float | None:
    """Clamp a usage to 0-100; a missing, negative or non-finite value is unknown."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return min(value, 100.0)


async def store_batch(ctx: InventoryContext, messages: list[Msg]) -> None:
    """Store a batch's samples and reachability reports, then refresh node status and cluster health."""
    now = utcnow()
    batch = decode(messages, now=now, max_future=timedelta(seconds=ctx.settings.max_future_seconds))
    keys = batch.keys()
    if not keys:
        _count_skipped(batch.skipped)
        return

    async with ctx.db.session() as session:
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
            stale_before=now - timedelta(seconds=ctx.settings.heartbeat_timeout_seconds),
            warning_percent=ctx.settings.warning_percent,
        )
        await service.refresh_health(session, cluster_uuids=changed)

    telemetry.SAMPLES_STORED.inc(inserted)
    batch.skip("duplicate", len(rows) - inserted)
    _count_skipped(batch.skipped)
    for report in reports:
        telemetry.STATUS_EVENTS.labels(str(report.reachable).lower()).inc()


def _usable(batch: DecodedBatch, found: dict, cluster: str, node: str) -> samples.EventNode | None:
    """Return the event's node when it exists and its cluster is live; count the reason otherwise."""
    target = found.get((cluster, node))
    if target is None:
        batch.skip("unknown_node")
        if _warnings.allow(("unknown", cluster, node)):
            logger.warning("metrics event for unknown node skipped cluster=%s node=%s", cluster, node)
        return None
    if target.cluster_deleted:
        batch.skip("deleted_cluster")
        return None
    return target


def _sample_rows(batch: DecodedBatch, found: dict) -> dict[tuple, SampleRow]:
    """Turn samples into rows, one per (node, time); a repeat within the batch counts as a duplicate."""
    rows: dict[tuple, SampleRow] = {}
    for event in batch.samples:
        target = _usable(batch, found, event.cluster, event.node)
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
        target = _usable(batch, found, event.cluster, event.node)
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
