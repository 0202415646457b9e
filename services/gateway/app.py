"""The FastAPI application of the gateway: routes under ``/api/v1``, OpenAPI at ``/docs``, ``/metrics``.

``create_app`` builds the app; its lifespan connects to NATS, opens the rate-limit bucket,
starts the token-state watchers and the audit publisher, and closes them in reverse order at
shutdown.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from libs.common.bus import connect, ensure_streams
from libs.common.logging import configure_logging
from libs.common.names import Names
from libs.common.rpc import RpcClient
from libs.common.settings import get_common_settings
from services.gateway.audit import AuditMiddleware, AuditPublisher
from services.gateway.config import get_gateway_settings
from services.gateway.errors import install_error_handlers
from services.gateway.middleware import EdgeMiddleware
from services.gateway.ratelimit import LoginLimiter
from services.gateway.routes import ROUTERS
from services.gateway.routes.health import HealthChecker
from services.gateway.security import TokenState, TokenVerifier

logger = logging.getLogger(__name__)

API_DESCRIPTION = (
    "HTTP API of hfd, which watches Hadoop clusters, detects faults in their logs and metrics, "
    "and helps operators fix them. Send the access token from `POST /api/v1/user/login` as "
    '`Authorization: Bearer <token>`. Errors are `{"detail": "<code>", "message": "..."}` '
    'or `{"detail": {"errors": [{"field", "code", "message"}]}}`; messages are Chinese '
    "unless `Accept-Language` starts with `en`."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    common = get_common_settings()
    settings = get_gateway_settings()
    names = Names(common.nats_prefix)
    configure_logging("gateway", common.log_level, common.log_format)  # again in each uvicorn worker process

    nc = await connect(common.nats_url, f"hfd-gateway-{common.instance}")
    js = nc.jetstream()
    await ensure_streams(js, names, ["AUDIT"])
    limiter = await LoginLimiter.open(nc, names, settings)

    token_state = TokenState(js, names)
    await token_state.start()
    audit = AuditPublisher(
        js,
        names,
        queue_size=settings.audit_queue_size,
        timeout=settings.audit_publish_timeout_seconds,
        attempts=settings.audit_publish_attempts,
    )
    audit.start()

    app.state.rpc = RpcClient(nc, names, timeout=settings.rpc_timeout_seconds)
    app.state.token_state = token_state
    app.state.verifier = TokenVerifier(common.jwt_secret, token_state, settings.token_leeway_seconds)
    app.state.audit = audit
    app.state.limiter = limiter
    app.state.health = HealthChecker(
        nc,
        names,
        settings.health_services,
        timeout=settings.health_timeout_seconds,
        cache_seconds=settings.health_cache_seconds,
    )
    logger.info("gateway started prefix=%s", common.nats_prefix or "-")
    try:
        yield
    finally:
        await audit.stop()
        await token_state.stop()
        try:
            await nc.drain()
        except Exception as error:
            logger.warning("nats drain failed error=%s", error)
        logger.info("gateway stopped")


def create_app() -> FastAPI:
    """Build the gateway application."""
    settings = get_gateway_settings()
    app = FastAPI(
        title="hfd API",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.max_body_bytes = settings.max_body_bytes
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)

    # Added last, so it runs first: the audit middleware then gets the request id and the final status.
    app.add_middleware(AuditMiddleware)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


async def metrics() -> Response:
    """Prometheus metrics of this gateway process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
