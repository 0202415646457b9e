"""The periodic sweep: delete metric samples past retention and mark silent nodes ``unknown``."""

import asyncio
import contextlib
import logging
from datetime import timedelta

from libs.common.timeutil import utcnow
from services.inventory import samples, service, telemetry
from services.inventory.context import InventoryContext

logger = logging.getLogger(__name__)


async def run_sweeps(ctx: InventoryContext, stopping: asyncio.Event) -> None:
    """Sweep every ``retention_interval_seconds`` until ``stopping`` is set; a failed sweep is retried."""
    interval = ctx.settings.retention_interval_seconds
    logger.info(
        "sweeper started interval=%.0fs retention=%.1fh batch=%d",
        interval,
        ctx.settings.metric_retention_hours,
        ctx.settings.retention_batch_size,
    )
    while not stopping.is_set():
        try:
            await delete_expired_samples(ctx, stopping)
            await mark_silent_nodes(ctx)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("sweep failed; retrying in %.0fs", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
    logger.info("sweeper stopped")


async def delete_expired_samples(ctx: InventoryContext, stopping: asyncio.Event | None = None) -> int:
    """Delete samples older than the retention period, one batch per transaction; return how many."""
    before = utcnow() - timedelta(hours=ctx.settings.metric_retention_hours)
    total = 0
    while stopping is None or not stopping.is_set():
        async with ctx.db.session() as session:
            deleted = await samples.delete_expired(session, before=before, limit=ctx.settings.retention_batch_size)
        total += deleted
        telemetry.SAMPLES_DELETED.inc(deleted)
        if deleted < ctx.settings.retention_batch_size:
            break
        # Other transactions get the database between two batches.
        await asyncio.sleep(0)
    if total:
        logger.info("expired metric samples deleted count=%d before=%s", total, before.isoformat())
    return total


async def mark_silent_nodes(ctx: InventoryContext) -> None:
    """Recompute every live node's status, so that a node without recent samples becomes ``unknown``."""
    async with ctx.db.session() as session:
        changed = await samples.refresh_status(
            session,
            node_uuids=None,
            stale_before=utcnow() - timedelta(seconds=ctx.settings.heartbeat_timeout_seconds),
            warning_percent=ctx.settings.warning_percent,
        )
        await service.refresh_health(session, cluster_uuids=changed)
    if changed:
        logger.info("node status refreshed by sweep clusters=%d", len(changed))
