"""The inventory service: clusters, ownership, nodes, metric samples and trends.

``hfd serve inventory`` runs ``start`` inside ``libs.common.service.run_service``: it migrates
the ``inventory`` schema, registers the endpoints, and starts the METRICS consumer and the
retention sweep.
"""

import logging
from pathlib import Path

from libs.common.service import ServiceContext
from services.inventory.config import get_inventory_settings
from services.inventory.context import InventoryContext
from services.inventory.handlers import InventoryHandlers
from services.inventory.ingest import MetricsIngest
from services.inventory.maintenance import run_sweeps
from services.inventory.models import SCHEMA

logger = logging.getLogger(__name__)

USES_DATABASE = True
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


async def start(ctx: ServiceContext) -> None:
    """Prepare the schema, then register endpoints and start the background tasks."""
    settings = get_inventory_settings()
    await ctx.migrate(SCHEMA, MIGRATIONS_DIR)
    assert ctx.db is not None, "the inventory service needs its database"

    inventory = InventoryContext(db=ctx.db, settings=settings, client=ctx.client)
    InventoryHandlers(inventory).register(ctx.rpc)
    ctx.spawn(MetricsIngest(inventory).run(ctx.js, ctx.names, ctx.stopping), name="metrics-consumer")
    ctx.spawn(run_sweeps(inventory, ctx.stopping), name="retention-sweep")
    logger.info("inventory service prepared retention=%.1fh", settings.metric_retention_hours)
