"""The faults service: incidents from the log and metric streams, FAULTS events, faults and logs endpoints."""

import asyncio
import logging
from pathlib import Path

from libs.common.catalog import catalog_dir_from_env, load_catalog
from libs.common.service import ServiceContext
from services.faults.config import get_settings
from services.faults.consumers import ConsumerDeps, LogConsumer, MetricConsumer
from services.faults.engines import EngineRegistry
from services.faults.events import OutboxRelay
from services.faults.handlers import FaultHandlers
from services.faults.leader import ConsumerLeadership, LeadershipLost
from services.faults.maintenance import Maintenance
from services.faults.models import SCHEMA

logger = logging.getLogger(__name__)

USES_DATABASE = True


async def start(ctx: ServiceContext) -> None:
    """Migrate, register the endpoints, start the outbox relay, and wait for the consumers lease.

    Every replica serves the endpoints and relays the outbox. The consumers and the upkeep loop
    run only on the replica that holds the lease, each term with engines restored afresh from
    the database, because the engines of an earlier term may be behind a successor's commits.
    """
    if ctx.db is None:
        raise RuntimeError("the faults service needs its database; run it with USES_DATABASE = True")
    settings = get_settings()
    catalog = load_catalog(catalog_dir_from_env())
    await ctx.migrate(SCHEMA, Path(__file__).parent / "migrations")

    relay = OutboxRelay(ctx.db, ctx.js)
    handlers = FaultHandlers(
        db=ctx.db, client=ctx.client, catalog=catalog, settings=settings, names=ctx.names, relay=relay
    )
    handlers.register(ctx.rpc)

    leadership = ConsumerLeadership(ctx.js, ctx.db, ctx.names, settings)
    maintenance = Maintenance(db=ctx.db, js=ctx.js, names=ctx.names, settings=settings, relay=relay)
    registry: EngineRegistry | None = None  # the engines of the current term as lease holder

    async def run_term(term_stopping: asyncio.Event) -> None:
        nonlocal registry
        registry = EngineRegistry(catalog)
        deps = ConsumerDeps(
            db=ctx.db, js=ctx.js, names=ctx.names, catalog=catalog, settings=settings,
            registry=registry, relay=relay, fence=leadership.fence,
        )
        await asyncio.gather(
            LogConsumer(deps).run(term_stopping),
            MetricConsumer(deps).run(term_stopping),
            maintenance.run(term_stopping),
        )

    async def stop_consumers() -> None:
        if registry is not None and leadership.epoch is not None:
            try:
                await registry.save_all(ctx.db, leadership.fence)
            except LeadershipLost:
                logger.info("engine state not saved: another replica runs the consumers")
        await leadership.release()

    ctx.spawn(relay.run(ctx.stopping), "outbox-relay")
    ctx.spawn(leadership.run(ctx.stopping, run_term), "consumers-lease")
    ctx.on_stop(stop_consumers)
    logger.info("faults service started kinds=%d quiet_minutes=%.2f replica=%s",
                len(catalog), settings.quiet_minutes, leadership.replica_id)
