"""The faults service: incidents from the log and metric streams, FAULTS events, faults and logs endpoints."""

import logging
from pathlib import Path

from libs.common.catalog import catalog_dir_from_env, load_catalog
from libs.common.service import ServiceContext
from services.faults.config import get_settings
from services.faults.consumers import ConsumerDeps, LogConsumer, MetricConsumer
from services.faults.engines import EngineRegistry
from services.faults.events import OutboxRelay
from services.faults.handlers import FaultHandlers
from services.faults.maintenance import Maintenance
from services.faults.models import SCHEMA

logger = logging.getLogger(__name__)

USES_DATABASE = True


async def start(ctx: ServiceContext) -> None:
    """Migrate, register the endpoints, and start the consumers, the outbox relay and the upkeep loop."""
    if ctx.db is None:
        raise RuntimeError("the faults service needs its database; run it with USES_DATABASE = True")
    settings = get_settings()
    catalog = load_catalog(catalog_dir_from_env())
    await ctx.migrate(SCHEMA, Path(__file__).parent / "migrations")

    relay = OutboxRelay(ctx.db, ctx.js)
    registry = EngineRegistry(catalog)
    handlers = FaultHandlers(
        db=ctx.db, client=ctx.client, catalog=catalog, settings=settings, names=ctx.names, relay=relay
    )
    handlers.register(ctx.rpc)

    deps = ConsumerDeps(
        db=ctx.db, js=ctx.js, names=ctx.names, catalog=catalog, settings=settings, registry=registry, relay=relay
    )
    maintenance = Maintenance(db=ctx.db, js=ctx.js, names=ctx.names, settings=settings, relay=relay)
    ctx.spawn(relay.run(ctx.stopping), "outbox-relay")
    ctx.spawn(LogConsumer(deps).run(ctx.stopping), "logs-consumer")
    ctx.spawn(MetricConsumer(deps).run(ctx.stopping), "metrics-consumer")
    ctx.spawn(maintenance.run(ctx.stopping), "maintenance")
    ctx.on_stop(lambda: registry.save_all(ctx.db))
    logger.info("faults service started kinds=%d quiet_minutes=%.2f", len(catalog), settings.quiet_minutes)
