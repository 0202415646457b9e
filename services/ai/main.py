"""Entry point of the AI service: migrations, endpoints and the FAULTS consumer."""

import logging
from pathlib import Path

from libs.common.consumer import run_consumer
from libs.common.service import ServiceContext
from services.ai.chat import ChatFlows
from services.ai.config import get_ai_settings
from services.ai.diagnosing import DiagnosisRunner
from services.ai.diagnosis.llm import make_client
from services.ai.flows import FaultFlows
from services.ai.handlers import AiHandlers
from services.ai.locks import AdvisoryLocks
from services.ai.models import SCHEMA
from services.ai.playbook import get_catalog
from services.ai.requests import RequestFlows

logger = logging.getLogger(__name__)

USES_DATABASE = True
CONSUMER_NAME = "ai_faults"


async def start(ctx: ServiceContext) -> None:
    settings = get_ai_settings()
    assert ctx.db is not None
    await ctx.migrate(SCHEMA, Path(__file__).parent / "migrations")
    catalog = get_catalog()

    client = make_client(settings)
    if client is None:
        logger.info("no model API key set; diagnoses use the offline diagnoser and chat returns 503")
    else:
        logger.info("model configured model=%s base_url=%s", settings.model, settings.anthropic_base_url or "default")

    runner = DiagnosisRunner(ctx.db, settings, client)
    flows = FaultFlows(ctx.db, settings, ctx.client, ctx.js, ctx.names, runner, AdvisoryLocks(ctx.db.url))
    handlers = AiHandlers(flows=flows, requests=RequestFlows(flows), chat_flows=ChatFlows(ctx.db, settings, client))
    handlers.register(ctx.rpc)
    ctx.on_stop(flows.stop)
    if client is not None:
        ctx.on_stop(client.close)

    ctx.spawn(
        run_consumer(
            ctx.js,
            stream=ctx.names.stream("FAULTS"),
            durable=ctx.names.durable(CONSUMER_NAME),
            filter_subject=ctx.names.subject("faults.>"),
            handler=flows.handle_batch,
            stopping=ctx.stopping,
            batch=settings.consumer_batch,
            ack_wait=settings.ack_wait_seconds,
        ),
        "faults-consumer",
    )
    logger.info("ai service started kinds=%d temp_roots=%s", len(catalog), settings.temp_roots)
