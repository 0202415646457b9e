"""``FaultEvent`` publication through a transactional outbox.

A change to an incident queues its event in the ``outbox`` table in the same transaction,
so a committed change always has its event, even when the process dies right after the
commit. The relay publishes queued events to JetStream after the commit, with
``Nats-Msg-Id`` ``<incident id>:<change sequence>``. It deletes a row only after JetStream
acknowledged it, so a failed publish stays queued and is retried with backoff. A row that is
published but not yet deleted when the process dies is published again with the same id,
and JetStream drops that copy inside its two-hour duplicate window.
"""

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from nats.js import JetStreamContext
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common import metrics as common_metrics
from libs.common.db import Database
from libs.common.events import FaultEvent
from libs.common.names import Names, subject_token
from services.faults.models import OutboxEvent

if TYPE_CHECKING:
    from services.faults.models import Incident

logger = logging.getLogger(__name__)

EVENT_EVIDENCE_LINES = 5
EVENT_EVIDENCE_CHARS = 1000
PUBLISH_TIMEOUT_SECONDS = 5.0
MAX_RETRY_DELAY_SECONDS = 30.0


def fault_event(incident: "Incident", event: str, now: datetime) -> FaultEvent:
    """Build the event that describes ``incident`` as it is now."""
    evidence = [*incident.evidence_first, *incident.evidence_recent][-EVENT_EVIDENCE_LINES:]
    return FaultEvent(
        event=event,
        incident_id=incident.id,
        cluster=incident.cluster,
        node=incident.node,
        kind=incident.kind,
        severity=incident.severity,
        status=incident.status,
        title_zh=incident.title_custom or incident.title_zh,
        title_en=incident.title_custom or incident.title_en,
        count=incident.count,
        first_seen=incident.first_seen,
        last_seen=incident.last_seen,
        evidence=[item["text"][:EVENT_EVIDENCE_CHARS] for item in evidence],
        occurred_at=now,
    )


def fault_subject(names: Names, cluster: str, kind: str) -> str:
    return names.faults(subject_token(cluster), subject_token(kind))


async def queue_event(session: AsyncSession, incident: "Incident", event: str, names: Names, now: datetime) -> None:
    """Add the event of this change of ``incident`` to the outbox of the current transaction."""
    incident.event_seq += 1
    incident.last_event_at = now
    payload = fault_event(incident, event, now)
    session.add(
        OutboxEvent(
            msg_id=f"{incident.id}:{incident.event_seq}",
            subject=fault_subject(names, incident.cluster, incident.kind),
            payload=payload.model_dump_json(),
            created_at=now,
            attempts=0,
        )
    )


class OutboxRelay:
    """Publishes queued events to the ``FAULTS`` stream, oldest first."""

    def __init__(self, db: Database, js: JetStreamContext, *, batch: int = 100) -> None:
        self.db = db
        self.js = js
        self.batch = batch
        self._wake = asyncio.Event()
        self._failures = 0

    def wake(self) -> None:
        """Ask the relay to publish now (called after a commit that queued events)."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish until ``stopping`` is set, waking on ``wake()`` or every second."""
        logger.info("outbox relay started")
        while not stopping.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.drain()
            if self._failures:
                await asyncio.sleep(min(MAX_RETRY_DELAY_SECONDS, 0.5 * 2 ** min(self._failures, 6)))
        logger.info("outbox relay stopped")

    async def drain(self) -> int:
        """Publish queued events until the outbox is empty or a publish fails; return the count sent."""
        total = 0
        while True:
            try:
                sent, complete = await self._publish_batch()
            except Exception:
                self._failures += 1
                logger.exception("outbox relay batch failed failures=%d", self._failures)
                return total
            total += sent
            if not complete or sent < self.batch:
                return total

    async def _publish_batch(self) -> tuple[int, bool]:
        async with self.db.session() as session:
            query = select(OutboxEvent).order_by(OutboxEvent.id).limit(self.batch).with_for_update(skip_locked=True)
            rows = (await session.execute(query)).scalars().all()
            published: list[int] = []
            for row in rows:
                if not await self._publish(row):
                    break
                published.append(row.id)
            if published:
                await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(published)))
            return len(published), len(published) == len(rows)

    async def _publish(self, row: OutboxEvent) -> bool:
        try:
            await self.js.publish(
                row.subject,
                row.payload.encode(),
                headers={"Nats-Msg-Id": row.msg_id},
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
        except Exception as error:
            self._failures += 1
            row.attempts += 1
            row.last_error = f"{type(error).__name__}: {error}"[:500]
            logger.warning(
                "fault event publish failed msg_id=%s subject=%s attempts=%d error=%s",
                row.msg_id, row.subject, row.attempts, type(error).__name__,
            )
            return False
        self._failures = 0
        common_metrics.EVENTS_PUBLISHED.labels("FAULTS").inc()
        return True
