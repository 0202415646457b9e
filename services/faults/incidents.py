"""The incident state machine: occurrences open and grow incidents, people and time move them on.

States are ``active`` → ``acknowledged`` → ``resolved``. Open incidents (active or
acknowledged) are unique per fingerprint (cluster, node, kind). A unique partial index
enforces it, and a transaction-scoped advisory lock per fingerprint serialises replicas.

Reopening: an occurrence that arrives within ``reopen_grace_minutes`` after an incident was
resolved reopens that incident, and its count goes on. A later occurrence opens a new incident.
Every change queues a ``FaultEvent`` in the outbox of the same transaction.
"""

import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.catalog import SEVERITY_ORDER
from libs.common.errors import Conflict
from libs.common.names import Names
from services.faults import events
from services.faults.config import FaultsSettings
from services.faults.models import OPEN_STATUSES, Incident

logger = logging.getLogger(__name__)

STATUSES = ("active", "acknowledged", "resolved")
TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"acknowledged", "resolved"}),
    "acknowledged": frozenset({"active", "resolved"}),
    "resolved": frozenset({"active"}),
}
# Kinds that a status report resolves (the node is reachable again), never the quiet period.
STATE_KINDS = frozenset({"node_unreachable"})
SYSTEM_ACTOR = "system"
# The actor of changes that the AI service makes through ``incidents.resolve``.
AI_ACTOR = "hfd-ai"


def fingerprint(cluster: str, node: str, kind: str, discriminator: str | None = None) -> str:
    """Return the deduplication key of an incident; JSON keeps it unambiguous for any id.

    ``discriminator`` splits one kind on one node into several incidents: each template of
    ``unknown_error`` and each manual report gets its own.
    """
    parts = [cluster, node, kind] if discriminator is None else [cluster, node, kind, discriminator]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class Evidence:
    """One log record (or status report) kept as proof of an incident."""

    text: str
    time: datetime | None = None
    level: str | None = None
    file: str | None = None
    offset: int | None = None

    def to_json(self, max_chars: int) -> dict[str, Any]:
        return {
            "text": self.text[:max_chars],
            "time": self.time.isoformat() if self.time else None,
            "level": self.level,
            "file": self.file,
            "offset": self.offset,
        }


@dataclass(slots=True)
class OccurrenceGroup:
    """Occurrences of one fingerprint within one consumer batch, merged before they are written."""

    cluster: str
    node: str
    kind: str
    severity: str
    title_zh: str
    title_en: str
    discriminator: str | None = None
    first_limit: int = 5
    recent_limit: int = 5
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    template_id: str | None = None
    first_evidence: list[Evidence] = field(default_factory=list)
    recent_evidence: deque[Evidence] = field(default_factory=deque)
    source_files: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cluster, self.node, self.kind, self.discriminator)

    def add(self, seen_at: datetime, evidence: Evidence | None, template_id: str | None = None) -> None:
        """Count one occurrence seen at ``seen_at`` (a log time) with its evidence."""
        self.count += 1
        self.first_seen = seen_at if self.first_seen is None else min(self.first_seen, seen_at)
        self.last_seen = seen_at if self.last_seen is None else max(self.last_seen, seen_at)
        if template_id and not self.template_id:
            self.template_id = template_id
        if evidence is None:
            return

        if evidence.file and evidence.file not in self.source_files:
            self.source_files.append(evidence.file)
        if len(self.first_evidence) < self.first_limit:
            self.first_evidence.append(evidence)
            return
        self.recent_evidence.append(evidence)
        if len(self.recent_evidence) > self.recent_limit:
            self.recent_evidence.popleft()

    def evidence(self) -> list[Evidence]:
        return [*self.first_evidence, *self.recent_evidence]


@dataclass(slots=True)
class IncidentContext:
    """Settings, subject names and the clock that the state machine uses beside the session."""

    settings: FaultsSettings
    names: Names
    now: datetime


async def lock_fingerprint(session: AsyncSession, key: str) -> None:
    """Hold a transaction-scoped lock on ``key`` so replicas never open the same incident twice."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


async def open_incident(session: AsyncSession, key: str) -> Incident | None:
    query = select(Incident).where(Incident.fingerprint == key, Incident.status.in_(OPEN_STATUSES))
    return (await session.execute(query.with_for_update())).scalar_one_or_none()


async def record_occurrences(session: AsyncSession, group: OccurrenceGroup, ctx: IncidentContext) -> Incident:
    """Add ``group`` to the open incident of its fingerprint, reopening or opening one when needed."""
    key = group.fingerprint
    await lock_fingerprint(session, key)
    incident = await open_incident(session, key)
    event: str | None = None

    if incident is None:
        incident = await _recently_resolved(session, key, ctx)
        if incident is not None:
            _move(incident, "active", actor=SYSTEM_ACTOR, reason="reopened", now=ctx.now)
            logger.info("incident reopened incident=%s cluster=%s node=%s kind=%s",
                        incident.id, incident.cluster, incident.node, incident.kind)
        else:
            incident = _new_incident(group, ctx.now)
            session.add(incident)
            logger.info("incident opened incident=%s cluster=%s node=%s kind=%s",
                        incident.id, incident.cluster, incident.node, incident.kind)
        event = "detected"

    old_count = incident.count
    _merge(incident, group, ctx)
    if event is None and _update_due(incident, old_count, ctx):
        event = "updated"

    if event is None:
        incident.update_pending = True
    else:
        await events.queue_event(session, incident, event, ctx.names, ctx.now)
    return incident


async def _recently_resolved(session: AsyncSession, key: str, ctx: IncidentContext) -> Incident | None:
    grace = ctx.settings.reopen_grace_minutes
    if grace <= 0:
        return None
    query = (
        select(Incident)
        .where(
            Incident.fingerprint == key,
            Incident.status == "resolved",
            Incident.resolved_at >= ctx.now - timedelta(minutes=grace),
        )
        .order_by(Incident.resolved_at.desc())
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(query)).scalar_one_or_none()


def _new_incident(group: OccurrenceGroup, now: datetime) -> Incident:
    seen = group.first_seen or now
    return Incident(
        id=str(uuid.uuid4()),
        fingerprint=group.fingerprint,
        cluster=group.cluster,
        node=group.node,
        kind=group.kind,
        severity=group.severity,
        status="active",
        origin="detected",
        title_zh=group.title_zh,
        title_en=group.title_en,
        count=0,
        first_seen=seen,
        last_seen=seen,
        last_received_at=now,
        created_at=now,
        updated_at=now,
        template_id=group.template_id,
        evidence_first=[],
        evidence_recent=[],
        source_files=[],
        history=[_history_entry(None, "active", SYSTEM_ACTOR, "detected", now)],
        event_seq=0,
        update_pending=False,
    )


def _merge(incident: Incident, group: OccurrenceGroup, ctx: IncidentContext) -> None:
    settings = ctx.settings
    incident.count += group.count
    if group.first_seen is not None:
        incident.first_seen = min(incident.first_seen, group.first_seen)
    if group.last_seen is not None:
        incident.last_seen = max(incident.last_seen, group.last_seen)
    incident.last_received_at = ctx.now
    incident.updated_at = ctx.now
    if SEVERITY_ORDER.get(group.severity, 0) > SEVERITY_ORDER.get(incident.severity, 0):
        incident.severity = group.severity
    if group.template_id and not incident.template_id:
        incident.template_id = group.template_id

    # Reassign the JSON lists (never mutate them in place) so SQLAlchemy detects the change.
    first = list(incident.evidence_first)
    recent = list(incident.evidence_recent)
    for item in group.evidence():
        record = item.to_json(settings.evidence_max_chars)
        if len(first) < group.first_limit:
            first.append(record)
        else:
            recent.append(record)
    incident.evidence_first = first
    incident.evidence_recent = recent[-group.recent_limit :]

    files = list(incident.source_files)
    for name in group.source_files:
        if name not in files and len(files) < settings.max_source_files:
            files.append(name)
    incident.source_files = files


def _update_due(incident: Incident, old_count: int, ctx: IncidentContext) -> bool:
    """Decide whether this growth of the count is published now or left to the trailing flush."""
    if incident.last_event_at is None or crossed_power_of_ten(old_count, incident.count):
        return True
    elapsed = (ctx.now - incident.last_event_at).total_seconds()
    return elapsed >= ctx.settings.update_throttle_seconds


def crossed_power_of_ten(old: int, new: int) -> bool:
    """Tell whether a power of ten from 10 upwards lies in ``(old, new]``."""
    threshold = 10
    while threshold <= new:
        if threshold > old:
            return True
        threshold *= 10
    return False


def _history_entry(
    old: str | None, new: str, actor: str, reason: str, now: datetime, user_id: int | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"from": old, "to": new, "by": actor, "reason": reason, "at": now.isoformat()}
    if user_id is not None:
        entry["user_id"] = user_id
    return entry


def _move(
    incident: Incident, new: str, *, actor: str, reason: str, now: datetime, user_id: int | None = None
) -> None:
    incident.history = [*incident.history, _history_entry(incident.status, new, actor, reason, now, user_id)]
    incident.status = new
    incident.updated_at = now
    incident.resolved_at = now if new == "resolved" else None


def event_for_transition(old: str, new: str) -> str:
    """Name the ``FaultEvent`` of a status change: opening again is ``detected``."""
    if new == "resolved":
        return "resolved"
    if old == "resolved":
        return "detected"
    return "updated"


async def transition(
    session: AsyncSession,
    incident: Incident,
    new: str,
    ctx: IncidentContext,
    *,
    actor: str,
    reason: str,
    user_id: int | None = None,
) -> bool:
    """Move ``incident`` to status ``new``, record who did it and queue the event.

    Returns False when the incident already has that status. Raises ``Conflict`` when a
    resolved incident would reopen while another incident of its fingerprint is open.
    """
    old = incident.status
    if new == old:
        return False
    if new not in TRANSITIONS[old]:
        raise ValueError(f"transition {old} -> {new} is not allowed")

    if old == "resolved":
        await lock_fingerprint(session, incident.fingerprint)
        if await open_incident(session, incident.fingerprint) is not None:
            raise Conflict("fault_already_open")

    _move(incident, new, actor=actor, reason=reason, now=ctx.now, user_id=user_id)
    incident.update_pending = False
    await events.queue_event(session, incident, event_for_transition(old, new), ctx.names, ctx.now)
    logger.info("incident moved incident=%s from=%s to=%s by=%s reason=%s", incident.id, old, new, actor, reason)
    return True


async def resolve_quiet(session: AsyncSession, ctx: IncidentContext, *, limit: int = 200) -> int:
    """Resolve open detected incidents with no occurrence and no change in the quiet period.

    A change (a person acknowledging, retitling or reopening the incident) restarts the
    period, so an incident reopened by hand is not resolved again at once.
    """
    cutoff = ctx.now - timedelta(minutes=ctx.settings.quiet_minutes)
    query = (
        select(Incident)
        .where(
            Incident.status.in_(OPEN_STATUSES),
            Incident.origin == "detected",
            Incident.kind.not_in(STATE_KINDS),
            Incident.last_received_at < cutoff,
            Incident.updated_at < cutoff,
        )
        .order_by(Incident.last_received_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    incidents = (await session.execute(query)).scalars().all()
    for incident in incidents:
        await transition(session, incident, "resolved", ctx, actor=SYSTEM_ACTOR, reason="quiet_period")
    return len(incidents)


async def resolve_fingerprint(session: AsyncSession, key: str, ctx: IncidentContext, *, reason: str) -> bool:
    """Resolve the open incident of ``key``, if any (a node that is reachable again)."""
    await lock_fingerprint(session, key)
    incident = await open_incident(session, key)
    if incident is None:
        return False
    return await transition(session, incident, "resolved", ctx, actor=SYSTEM_ACTOR, reason=reason)


async def flush_pending_updates(session: AsyncSession, ctx: IncidentContext, *, limit: int = 200) -> int:
    """Publish the ``updated`` events that the throttle held back, once the throttle allows them."""
    cutoff = ctx.now - timedelta(seconds=ctx.settings.update_throttle_seconds)
    query = (
        select(Incident)
        .where(
            Incident.update_pending.is_(True),
            Incident.status.in_(OPEN_STATUSES),
            func.coalesce(Incident.last_event_at, Incident.created_at) <= cutoff,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    incidents = (await session.execute(query)).scalars().all()
    for incident in incidents:
        incident.update_pending = False
        await events.queue_event(session, incident, "updated", ctx.names, ctx.now)
    return len(incidents)


def create_manual(
    *,
    cluster: str,
    node: str,
    kind: str,
    severity: str,
    status: str,
    title: str,
    titles: tuple[str, str],
    created: datetime,
    actor: str,
    user_id: int | None,
    incident_id: str | None,
    now: datetime,
) -> Incident:
    """Build an incident that a person reported; it has its own fingerprint and never merges."""
    new_id = incident_id or str(uuid.uuid4())
    history = [_history_entry(None, "active", actor, "reported", now, user_id)]
    if status != "active":
        history.append(_history_entry("active", status, actor, "reported", now, user_id))
    return Incident(
        id=new_id,
        fingerprint=fingerprint(cluster, node, kind, f"manual:{new_id}"),
        cluster=cluster,
        node=node,
        kind=kind,
        severity=severity,
        status=status,
        origin="manual",
        title_zh=titles[0],
        title_en=titles[1],
        title_custom=title,
        count=1,
        first_seen=created,
        last_seen=created,
        last_received_at=now,
        created_at=now,
        updated_at=now,
        resolved_at=now if status == "resolved" else None,
        evidence_first=[],
        evidence_recent=[],
        source_files=[],
        history=history,
        event_seq=0,
        update_pending=False,
    )
