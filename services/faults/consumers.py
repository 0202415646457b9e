"""Durable consumers of ``LOGS`` and ``METRICS``: stream events in, incidents and log records out.

Each fetched batch is handled in one transaction that records the message keys
(``Nats-Msg-Id``, else the stream sequence), the incident changes, the stored log records,
the outbox events and the state (templates and windows) of the engines it used.
``run_consumer`` acknowledges the messages only after that commit, so a redelivery after a
crash finds its keys and changes nothing twice.

Only the faults replica that holds the consumers lease runs these consumers (see
``services.faults.leader``). Each transaction first checks that replica's fencing epoch, so a
replica that lost the lease cannot commit a batch after its successor started.

NOTE: one replica consumes at a time, so a second replica adds availability, not throughput.
Spreading the load would need the stream split by node, for example one consumer per
partition of ``logs.<cluster>.<node>.>``.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.bus import ensure_streams
from libs.common.catalog import Catalog
from libs.common.consumer import BatchHandler, run_consumer
from libs.common.db import Database
from libs.common.events import LogBatch, MetricSample, NodeStatusEvent
from libs.common.names import Names
from libs.common.timeutil import utcnow
from services.faults import incidents, service
from services.faults import metrics as fault_metrics
from services.faults.config import FaultsSettings
from services.faults.engines import EngineRegistry, detect_logs, occurrence_group
from services.faults.events import OutboxRelay
from services.faults.incidents import Evidence, IncidentContext, OccurrenceGroup, fingerprint
from services.faults.models import LogRecordRow

logger = logging.getLogger(__name__)

LOGS_DURABLE = "faults_logs"
METRICS_DURABLE = "faults_metrics"
STATUS_KIND = "node_unreachable"
SUPPORTED_VERSIONS = (1,)
STREAM_RETRY_SECONDS = 2.0
# Column sizes of faults.incidents; longer ids are rejected before they reach the database.
MAX_CLUSTER_CHARS = 200
MAX_NODE_CHARS = 255

Fence = Callable[[AsyncSession], Awaitable[None]]


@dataclass(slots=True)
class Delivery:
    """A decoded message with the key that marks it processed."""

    key: str
    stream_seq: int
    event: Any


@dataclass
class ConsumerDeps:
    """Connections, settings and engines shared by both consumers."""

    db: Database
    js: JetStreamContext
    names: Names
    catalog: Catalog
    settings: FaultsSettings
    registry: EngineRegistry
    relay: OutboxRelay
    # Raises ``LeadershipLost`` inside a transaction of a replica that no longer holds the lease.
    fence: Fence


def message_key(stream: str, msg: Msg) -> tuple[str, int]:
    """Return the processed-message key and the stream sequence of ``msg``.

    The key hashes the subject with ``Nats-Msg-Id``, so equal ids from two nodes or clusters
    stay apart, and a batch published again with its id (after the two-hour duplicate window)
    is still recognised. Messages without an id are keyed by stream sequence.
    """
    seq = msg.metadata.sequence.stream
    msg_id = (msg.headers or {}).get("Nats-Msg-Id")
    if not msg_id:
        return f"{stream}:seq:{seq}", seq
    digest = hashlib.sha256(f"{msg.subject}\n{msg_id}".encode()).hexdigest()
    return f"{stream}:id:{digest}", seq


def decode(stream: str, messages: list[Msg], parse: Callable[[Msg], BaseModel | None]) -> list[Delivery]:
    """Decode ``messages``, skipping (and counting) those that are not valid events of a known version."""
    deliveries = []
    for msg in messages:
        key, seq = message_key(stream, msg)
        try:
            event = parse(msg)
            if event is not None:
                _check_ids(event)
        except (ValidationError, ValueError) as error:
            reason = _skip_reason(msg.data)
            fault_metrics.SKIPPED_MESSAGES.labels(stream, reason).inc()
            logger.warning("message skipped stream=%s seq=%d subject=%s reason=%s error=%s",
                           stream, seq, msg.subject, reason, str(error).splitlines()[0])
            continue
        if event is not None:
            deliveries.append(Delivery(key, seq, event))
    return deliveries


def _check_ids(event: BaseModel) -> None:
    """Raise ValueError when the cluster or node id of ``event`` cannot be stored."""
    cluster, node = getattr(event, "cluster", ""), getattr(event, "node", "")
    if not cluster or len(cluster) > MAX_CLUSTER_CHARS or "\x00" in cluster:
        raise ValueError(f"cluster id must be 1-{MAX_CLUSTER_CHARS} characters without NUL")
    if not node or len(node) > MAX_NODE_CHARS or "\x00" in node:
        raise ValueError(f"node name must be 1-{MAX_NODE_CHARS} characters without NUL")


def _skip_reason(data: bytes) -> str:
    try:
        version = json.loads(data).get("schema_version")
    except (ValueError, AttributeError):
        return "invalid_json"
    return "invalid_event" if version in SUPPORTED_VERSIONS else "unknown_version"


async def consume(
    deps: "ConsumerDeps", stream: str, durable: str, handler: BatchHandler, stopping: asyncio.Event
) -> None:
    """Run the durable consumer, creating its stream again whenever JetStream reports it missing."""
    names = deps.names
    while not stopping.is_set():
        try:
            await run_consumer(
                deps.js,
                stream=names.stream(stream),
                durable=names.durable(durable),
                filter_subject=names.stream_subjects(stream)[0],
                handler=handler,
                stopping=stopping,
                batch=deps.settings.consumer_batch,
                ack_wait=deps.settings.ack_wait_seconds,
            )
            return
        except NotFoundError as error:
            logger.warning("stream missing; creating it again stream=%s durable=%s error=%s",
                           stream, durable, error.description)
        try:
            await ensure_streams(deps.js, names, [stream])
        except Exception as error:  # the server may still be unreachable; the loop retries
            logger.warning("stream create failed stream=%s error=%s", stream, error)
        await asyncio.sleep(STREAM_RETRY_SECONDS)


class LogConsumer:
    """Runs ``LogBatch`` records through the engines into incidents and ``log_records``."""

    stream = "LOGS"

    def __init__(self, deps: ConsumerDeps) -> None:
        self.deps = deps

    async def run(self, stopping: asyncio.Event) -> None:
        await consume(self.deps, self.stream, LOGS_DURABLE, self.handle, stopping)

    async def handle(self, messages: list[Msg]) -> None:
        """Commit the effects of ``messages`` that were not processed before."""
        deliveries = decode(self.stream, messages, lambda msg: LogBatch.model_validate_json(msg.data))
        if not deliveries:
            return
        deps = self.deps
        now = utcnow()
        touched: set[tuple[str, str]] = set()
        try:
            async with deps.registry.lock, deps.db.session() as session:
                await deps.fence(session)
                keys = {item.key: item.stream_seq for item in deliveries}
                fresh = await service.claim_messages(session, stream=self.stream, keys=keys, now=now)
                batches = [item.event for item in deliveries if item.key in fresh]
                touched = {(batch.cluster, batch.node) for batch in batches}
                engines = await deps.registry.load(session, touched)
                result = await asyncio.to_thread(detect_logs, engines, batches, deps.catalog, deps.settings, now)

                ctx = IncidentContext(settings=deps.settings, names=deps.names, now=now)
                for key in sorted(result.groups):
                    await incidents.record_occurrences(session, result.groups[key], ctx)
                if result.log_rows:
                    await session.execute(LogRecordRow.__table__.insert(), result.log_rows)
                await deps.registry.checkpoint(session, touched, now)
        except BaseException:
            deps.registry.discard(touched)
            raise

        deps.relay.wake()
        duplicates = len(deliveries) - len(fresh)
        if duplicates:
            fault_metrics.SKIPPED_MESSAGES.labels(self.stream, "duplicate").inc(duplicates)
        fault_metrics.LOG_RECORDS.inc(result.records)
        fault_metrics.DETECTION_FAILURES.inc(result.failed_records)
        for kind, count in result.detections.items():
            fault_metrics.DETECTIONS.labels(kind).inc(count)


def _parse_metric(msg: Msg) -> BaseModel:
    data = json.loads(msg.data)
    if isinstance(data, dict) and "reachable" in data:
        return NodeStatusEvent.model_validate(data)
    return MetricSample.model_validate(data)


class MetricConsumer:
    """Turns metric samples into ``resource_pressure`` and status reports into ``node_unreachable``."""

    stream = "METRICS"

    def __init__(self, deps: ConsumerDeps) -> None:
        self.deps = deps

    async def run(self, stopping: asyncio.Event) -> None:
        await consume(self.deps, self.stream, METRICS_DURABLE, self.handle, stopping)

    async def handle(self, messages: list[Msg]) -> None:
        """Apply the samples and status reports of ``messages`` in order, in one transaction."""
        deliveries = decode(self.stream, messages, _parse_metric)
        if not deliveries:
            return
        deps = self.deps
        now = utcnow()
        ctx = IncidentContext(settings=deps.settings, names=deps.names, now=now)
        touched: set[tuple[str, str]] = set()
        try:
            async with deps.registry.lock, deps.db.session() as session:
                await deps.fence(session)
                keys = {item.key: item.stream_seq for item in deliveries}
                fresh = await service.claim_messages(session, stream=self.stream, keys=keys, now=now)
                for item in deliveries:
                    if item.key not in fresh:
                        continue
                    if isinstance(item.event, NodeStatusEvent):
                        await self._apply_status(session, item.event, ctx)
                    else:
                        touched.add((item.event.cluster, item.event.node))
                        await self._apply_sample(session, item.event, ctx)
                await deps.registry.checkpoint(session, touched, now)
        except BaseException:
            deps.registry.discard(touched)
            raise

        deps.relay.wake()
        fault_metrics.METRIC_SAMPLES.inc(len(fresh))

    async def _apply_status(self, session, event: NodeStatusEvent, ctx: IncidentContext) -> None:
        if event.reachable:
            key = fingerprint(event.cluster, event.node, STATUS_KIND)
            await incidents.resolve_fingerprint(session, key, ctx, reason="node_reachable")
            return

        kind = self.deps.catalog.get(STATUS_KIND)
        group = OccurrenceGroup(
            cluster=event.cluster,
            node=event.node,
            kind=STATUS_KIND,
            severity=kind.severity,
            title_zh=kind.title.zh,
            title_en=kind.title.en,
            first_limit=kind.max_evidence,
            recent_limit=self.deps.settings.evidence_recent,
        )
        text = (event.error or "node unreachable").replace("\x00", "")
        group.add(event.observed_at, Evidence(text=text, time=event.observed_at, level="ERROR"))
        await incidents.record_occurrences(session, group, ctx)
        fault_metrics.DETECTIONS.labels(STATUS_KIND).inc()

    async def _apply_sample(self, session, sample: MetricSample, ctx: IncidentContext) -> None:
        key = (sample.cluster, sample.node)
        at = sample.sampled_at if sample.sampled_at.tzinfo else sample.sampled_at.replace(tzinfo=UTC)
        engines = await self.deps.registry.load(session, {key})
        detections = engines[key].process_metric(
            cluster=sample.cluster,
            node=sample.node,
            cpu_pct=sample.cpu_percent,
            mem_pct=sample.memory_percent,
            disk_pct=sample.disk_percent,
            at=at,
        )
        for detection in detections:
            group = occurrence_group(detection, self.deps.catalog, self.deps.settings)
            group.add(at, Evidence(text=detection.evidence_text, time=at))
            await incidents.record_occurrences(session, group, ctx)
            fault_metrics.DETECTIONS.labels(detection.kind).inc()
