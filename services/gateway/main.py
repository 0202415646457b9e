"""Entry point of ``hfd serve gateway``: the FastAPI app under uvicorn."""

import uvicorn

from libs.common.logging import configure_logging
from libs.common.settings import get_common_settings
from services.gateway.config import get_gateway_settings


def serve(host: str, port: int) -> None:
    """Run the gateway on ``host:port`` until SIGTERM or Ctrl-C."""
    common = get_common_settings()
    settings = get_gateway_settings()
    configure_logging("gateway", common.log_level, common.log_format)
    uvicorn.run(
        "services.gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=settings.workers,
        loop="uvloop",
        # httptools with URL and header size limits, whose rejections use the API's JSON error body.
        http="services.gateway.protocol:LimitedHttpToolsProtocol",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        timeout_graceful_shutdown=10,
    )
