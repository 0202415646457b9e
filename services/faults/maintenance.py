"""Background upkeep: quiet-period resolution, held-back updates, retention and gauges.

Each step runs in its own transaction and logs its own failure, so one failing step does
not stop the others or the loop.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from sqlalchemy import func, select

from libs.common.db import Database
from libs.common.names import Names
from libs.common.timeutil import utcnow
from services.faults import incidents, service
from services.faults import metrics as fault_metrics
from services.faults.config import FaultsSettings
from services.faults.consumers import LOGS_DURABLE, METRICS_DURABLE
from services.faults.events import OutboxRelay
from services.faults.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_DELETE_ROUNDS = 20
CONSUMERS = {"LOGS": LOGS_DURABLE, "METRICS": METRICS_DURABLE}


class Maintenance:
    """Runs the upkeep steps every ``maintenance_seconds``."""

    def __init__(
        self, *, db: Database, js: JetStreamContext, names: Names, settings: FaultsSettings, relay: OutboxRelay
    ) -> None:
        self.db = db
        self.js = js
        self.names = names
        self.settings = settings
        self.relay = relay
        self._gauge_labels: set[tuple[str, str]] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        logger.info("maintenance started interval=%.1fs quiet_minutes=%.2f",
                    self.settings.maintenance_seconds, self.settings.quiet_minutes)
        while not stopping.is_set():
            await self.run_once()
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.settings.maintenance_seconds)
            except TimeoutError:
                pass
        logger.info("maintenance stopped")

    async def run_once(self) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("resolve_quiet", self.resolve_quiet),
            ("flush_updates", self.flush_updates),
            ("log_retention", self.delete_old_log_records),
            ("processed_retention", self.prune_processed),
            ("gauges", self.update_gauges),
        ]
        for name, step in steps:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("maintenance step failed step=%s", name)

    def _context(self) -> incidents.IncidentContext:
        return incidents.IncidentContext(settings=self.settings, names=self.names, now=utcnow())

    async def resolve_quiet(self) -> int:
        async with self.db.session() as session:
            resolved = await incidents.resolve_quiet(session, self._context())
        if resolved:
            self.relay.wake()
            logger.info("incidents resolved after the quiet period count=%d", resolved)
        return resolved

    async def flush_updates(self) -> int:
        async with self.db.session() as session:
            flushed = await incidents.flush_pending_updates(session, self._context())
        if flushed:
            self.relay.wake()
        return flushed

    async def delete_old_log_records(self) -> int:
        before = service.cutoff(utcnow(), hours=self.settings.log_retention_hours)
        total = 0
        for _ in range(MAX_DELETE_ROUNDS):
            async with self.db.session() as session:
                deleted = await service.delete_old_log_records(
                    session, before=before, batch=self.settings.delete_batch
                )
            total += deleted
            if deleted < self.settings.delete_batch:
                break
        if total:
            logger.info("log records deleted by retention count=%d", total)
        return total

    async def prune_processed(self) -> int:
        before = service.cutoff(utcnow(), hours=self.settings.processed_retention_hours)
        total = 0
        for stream, durable in CONSUMERS.items():
            try:
                info = await self.js.consumer_info(self.names.stream(stream), self.names.durable(durable))
            except Exception as error:  # the consumer may not exist yet right after the first start
                logger.debug("consumer info unavailable stream=%s error=%s", stream, error)
                continue
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            async with self.db.session() as session:
                total += await service.prune_processed(
                    session, stream=stream, before=before, ack_floor=floor or 0, batch=self.settings.delete_batch
                )
        return total

    async def update_gauges(self) -> int:
        async with self.db.session() as session:
            counts = await service.count_by_kind_and_status(session)
            pending = (await session.execute(select(func.count()).select_from(OutboxEvent))).scalar_one()
        seen = set()
        for kind, status, count in counts:
            fault_metrics.INCIDENTS.labels(kind, status).set(count)
            seen.add((kind, status))
        for kind, status in self._gauge_labels - seen:
            fault_metrics.INCIDENTS.labels(kind, status).set(0)
        self._gauge_labels = seen | self._gauge_labels
        fault_metrics.OUTBOX_PENDING.set(pending)
        return len(counts)
