"""Diagnoses of FAULTS events: when to diagnose, storing, publishing and unattended repairs.

An incident is diagnosed when it is detected, again when it reopens after a resolution, and
again when its occurrence count reaches ``rediagnose_growth_factor`` times the count of its
last diagnosis. The diagnosis is stored with the event id that caused it, so a redelivered
event finds it and only publishes it again (a duplicate that JetStream drops).

Replicas share the durable consumer, so two events of one incident may reach two replicas at
once. Each event is handled under the incident's advisory lock, from reading the incident's
track to saving it, so the second event reads what the first stored.
"""

import logging
import uuid
from typing import Any

from nats.aio.msg import Msg
from pydantic import ValidationError

from libs.common.db import Database
from libs.common.errors import ServiceError
from libs.common.events import FaultEvent
from libs.common.names import Names
from libs.common.rpc import RpcClient
from libs.common.timeutil import utcnow
from services.ai import service
from services.ai.config import AiSettings
from services.ai.context import ContextBuilder
from services.ai.diagnosing import DiagnosisRunner
from services.ai.diagnosis.base import Diagnosis, DiagnosisContext, IncidentInfo
from services.ai.events import publish_diagnosis
from services.ai.locks import AdvisoryLocks, LockKind
from services.ai.models import DiagnosisRecord, RepairRecord
from services.ai.repairs.actions import ACTION_CLASSES
from services.ai.repairs.policy import RepairPolicy, decide_unattended, normalise_policy
from services.ai.repairs.runner import RepairRunner
from services.ai.repairs.unattended import UnattendedRepairs
from services.ai.telemetry import DIAGNOSES
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)

# A batch whose event waits this long for another replica fails and is retried with a backoff.
# While it waits, the consumer marks its messages in progress, so JetStream does not deliver
# them to a second replica.
INCIDENT_LOCK_TIMEOUT_SECONDS = 120.0


def new_id() -> str:
    return uuid.uuid4().hex


def without_nul(value: Any) -> Any:
    """Drop NUL characters from every string of a JSON value; PostgreSQL stores none in text or JSONB."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: without_nul(item) for key, item in value.items()}
    return value


def diagnosis_record(
    diagnosis: Diagnosis,
    context: DiagnosisContext,
    *,
    trigger: str,
    source_event_id: str | None = None,
    requested_by: int | None = None,
) -> DiagnosisRecord:
    """Build the row that stores ``diagnosis``."""
    incident = context.incident
    node = ""
    if incident is not None:
        node = incident.node
    elif context.node is not None:
        node = context.node.name
    return DiagnosisRecord(
        id=new_id(),
        incident_id=incident.incident_id if incident else None,
        source_event_id=source_event_id,
        cluster=context.cluster,
        node=node,
        kind=diagnosis.kind,
        trigger=trigger,
        diagnoser=diagnosis.diagnoser,
        incident_count=incident.count if incident else 0,
        tokens_used=diagnosis.tokens_used,
        content=without_nul(diagnosis.model_dump(mode="json")),
        requested_by=requested_by,
    )


def node_uuid_of(context: DiagnosisContext, name: str) -> str | None:
    """Return the uuid of the cluster's node ``name``, or None when inventory does not know it."""
    if context.node is not None and context.node.name == name:
        return context.node.node_uuid
    return next((node.node_uuid for node in context.cluster_nodes or [] if node.name == name), None)


def repair_records(
    record: DiagnosisRecord, diagnosis: Diagnosis, context: DiagnosisContext, decide
) -> list[RepairRecord]:
    """Build one repair row per proposal, its status chosen by ``decide(action_class, safe)``.

    A row runs on the proposal's node, which may differ from the node of the incident, and
    its details start as the English reason for that node.
    """
    rows = []
    for proposal in diagnosis.proposed_actions:
        action_class = ACTION_CLASSES[proposal.action]
        decision = decide(action_class, proposal.safe)
        node = proposal.node or record.node
        details = proposal.node_note.en if proposal.node_note else ""
        if decision == "skipped":
            details = "the cluster's repair policy is off"
        rows.append(
            RepairRecord(
                id=new_id(),
                diagnosis_id=record.id,
                incident_id=record.incident_id,
                cluster=record.cluster,
                cluster_uuid=context.node.cluster_uuid if context.node else None,
                node=node,
                node_uuid=node_uuid_of(context, node),
                action_id=proposal.action_id,
                action=proposal.action,
                params=proposal.params,
                safe=proposal.safe,
                status="skipped" if decision == "skipped" else "pending",
                details=details,
            )
        )
    return rows


def runnable(rows: list[RepairRecord], decisions: list[str]) -> list[str]:
    return [row.id for row, decision in zip(rows, decisions, strict=True) if decision == "run"]


class FaultFlows:
    """Turns FAULTS events into stored, published diagnoses and unattended repairs."""

    def __init__(
        self,
        db: Database,
        settings: AiSettings,
        client: RpcClient,
        js,
        names: Names,
        runner: DiagnosisRunner,
        locks: AdvisoryLocks,
    ) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        self.js = js
        self.names = names
        self.runner = runner
        self.locks = locks
        self.repairs = RepairRunner(db, settings, js, names)
        self.unattended = UnattendedRepairs(db, locks, self.repairs, client)

    def upstream(self, request_id: str = "", lang: str = "zh") -> Upstream:
        return Upstream(self.client, request_id=request_id, lang=lang)

    async def handle_batch(self, messages: list[Msg]) -> None:
        """Handle FAULTS messages one by one; the consumer acknowledges the batch afterwards."""
        for message in messages:
            try:
                event = FaultEvent.model_validate_json(message.data)
            except ValidationError:
                logger.warning("fault event skipped: unknown shape subject=%s", message.subject)
                continue
            await self.handle_event(event)

    async def handle_event(self, event: FaultEvent) -> None:
        """Handle one event while holding its incident's lock; raise LockTimeout if another replica keeps it."""
        async with await self.locks.open() as lock:
            if not await lock.try_acquire(LockKind.INCIDENT_EVENTS, event.incident_id):
                logger.info(
                    "fault event waits for its incident's lock incident=%s event=%s", event.incident_id, event.event
                )
                await lock.acquire(LockKind.INCIDENT_EVENTS, event.incident_id, timeout=INCIDENT_LOCK_TIMEOUT_SECONDS)
            await self._handle_locked(event)

    async def _handle_locked(self, event: FaultEvent) -> None:
        if event.event == "resolved":
            await self._on_resolved(event)
            return

        async with self.db.session() as session:
            existing = await service.get_by_source_event(session, event_id=str(event.event_id))
            track = await service.get_track(session, incident_id=event.incident_id)
        if existing is not None:
            await self._publish_once(existing)
            return

        trigger = self._trigger(event, track)
        if trigger is None:
            return
        await self.diagnose_event(event, trigger)

    def _trigger(self, event: FaultEvent, track) -> str | None:
        if track is None or track.diagnosed_count == 0:
            return "detected"
        if track.resolved_since_diagnosis and event.status != "resolved":
            return "reopened"
        grown = event.count >= track.diagnosed_count * self.settings.rediagnose_growth_factor
        if not grown or event.count - track.diagnosed_count < self.settings.rediagnose_min_new_occurrences:
            return None
        # A fast-growing incident (safe mode hits every client) would otherwise be diagnosed,
        # and its repairs proposed again, every few seconds.
        if (utcnow() - track.updated_at).total_seconds() < self.settings.rediagnose_min_interval_seconds:
            return None
        return "grew"

    async def diagnose_event(self, event: FaultEvent, trigger: str) -> DiagnosisRecord:
        """Gather, diagnose, store, publish, and start the repairs the cluster's policy allows."""
        upstream = self.upstream(request_id=f"fault-{event.event_id}")
        incident = await self._incident(event, upstream)
        context = await ContextBuilder(upstream, self.settings).for_incident(incident, None)
        diagnosis = await self.runner.diagnose(
            context, upstream, lang="zh", max_steps=self.settings.event_max_steps, unattended=True
        )

        policy = await self._policy(upstream, event.cluster)
        record = diagnosis_record(diagnosis, context, trigger=trigger, source_event_id=str(event.event_id))
        decide = lambda action_class, safe: decide_unattended(policy, action_class, safe)  # noqa: E731
        rows = repair_records(record, diagnosis, context, decide)
        decisions = [decide(ACTION_CLASSES[row.action], row.safe) for row in rows]
        record.repair_status = "pending" if any(row.status == "pending" for row in rows) else None

        async with self.db.session() as session:
            await service.create_diagnosis(session, record=record)
            for row in rows:
                await service.create_repair(session, record=row)
            await service.save_track(
                session,
                incident_id=event.incident_id,
                cluster=event.cluster,
                diagnosed_count=event.count,
                resolved=False,
            )
        logger.info(
            "incident diagnosed incident=%s cluster=%s kind=%s diagnoser=%s trigger=%s policy=%s",
            event.incident_id,
            event.cluster,
            event.kind,
            diagnosis.diagnoser,
            trigger,
            policy,
        )
        DIAGNOSES.labels(diagnosis.diagnoser, trigger).inc()
        await self._publish_once(record)

        to_run = runnable(rows, decisions)
        if to_run:
            await self.unattended.start(incident_id=event.incident_id, cluster=event.cluster, repair_ids=to_run)
        return record

    async def _incident(self, event: FaultEvent, upstream: Upstream) -> IncidentInfo:
        incident = IncidentInfo(
            incident_id=event.incident_id,
            cluster=event.cluster,
            node=event.node,
            kind=event.kind,
            severity=event.severity,
            status=event.status,
            title_zh=event.title_zh,
            title_en=event.title_en,
            count=event.count,
            first_seen=event.first_seen,
            last_seen=event.last_seen,
            evidence=list(event.evidence),
        )
        try:
            stored = await ContextBuilder(upstream, self.settings).load_incident(event.incident_id, None)
        except ServiceError as error:
            logger.info("incident details unavailable incident=%s code=%s", event.incident_id, error.code)
            return incident
        if stored.evidence:
            incident.evidence = stored.evidence
        incident.source_files = stored.source_files
        return incident

    async def _policy(self, upstream: Upstream, cluster: str) -> RepairPolicy:
        try:
            body: dict[str, Any] = await upstream.get_cluster(None, cluster)
        except ServiceError as error:
            logger.warning("repair policy unknown, using suggest cluster=%s code=%s", cluster, error.code)
            return "suggest"
        return normalise_policy(body.get("repair_policy"))

    async def _publish_once(self, record: DiagnosisRecord) -> None:
        if record.incident_id is None:
            return
        await publish_diagnosis(self.js, self.names, record, msg_id=record.id)
        if not record.published:
            async with self.db.session() as session:
                await service.mark_published(session, diagnosis_id=record.id)

    async def _on_resolved(self, event: FaultEvent) -> None:
        async with self.db.session() as session:
            await service.mark_track_resolved(session, incident_id=event.incident_id, cluster=event.cluster)
            for row in await service.pending_repairs_for_incident(session, incident_id=event.incident_id):
                await service.update_repair(
                    session, repair_id=row.id, status="skipped", details="the incident was resolved before approval"
                )

    async def stop(self) -> None:
        await self.unattended.stop()
