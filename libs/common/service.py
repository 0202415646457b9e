"""The process skeleton every backend service runs in.

``run_service`` configures logging, connects to NATS and PostgreSQL, creates the JetStream
streams, serves ``/metrics``, lets the service register its endpoints and background tasks,
and on SIGTERM or Ctrl-C stops them in order: endpoints first, then tasks, then connections.
"""

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from libs.common.bus import connect, ensure_streams
from libs.common.db import Database, migrate
from libs.common.logging import configure_logging
from libs.common.metrics import start_metrics_server
from libs.common.names import STREAM_SUBJECTS, Names
from libs.common.rpc import RpcClient, RpcService
from libs.common.settings import CommonSettings, get_common_settings

logger = logging.getLogger(__name__)

SERVICE_VERSION = "0.1.0"
DEFAULT_METRICS_PORTS = {"auth": 9101, "inventory": 9102, "collector": 9103, "faults": 9104, "ai": 9105}


@dataclass
class ServiceContext:
    """The running service's connections, RPC service and background tasks."""

    name: str
    common: CommonSettings
    names: Names
    nc: Client
    js: JetStreamContext
    rpc: RpcService
    client: RpcClient
    db: Database | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Set when a background task crashed, so that the process exits with a failure status.
    crashed: bool = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run ``coro`` in the background; a crash is logged and stops the service."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        self.tasks.append(task)
        return task

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        self.cleanups.append(cleanup)

    async def migrate(self, schema: str, migrations_dir: Path) -> None:
        await migrate(self.common.database_url, schema, migrations_dir)

    def _on_task_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or self.stopping.is_set():
            return
        error = task.exception()
        if error is not None:
            logger.error("background task crashed service=%s task=%s", self.name, task.get_name(), exc_info=error)
            self.crashed = True
            self.stopping.set()


StartHook = Callable[[ServiceContext], Awaitable[None]]


def run_service(name: str, start: StartHook, *, database: bool = True) -> None:
    """Run service ``name`` until SIGTERM or SIGINT; exit with status 1 when a background task crashed."""
    common = get_common_settings()
    configure_logging(name, common.log_level, common.log_format)
    try:
        crashed = asyncio.run(_serve(name, start, common, database))
    except KeyboardInterrupt:
        return
    if crashed:
        # A supervisor (Kubernetes, docker compose, systemd) then records a failure and restarts the service.
        sys.exit(1)


async def _serve(name: str, start: StartHook, common: CommonSettings, database: bool) -> bool:
    """Serve until stopped; return whether a background task crashed."""
    loop = asyncio.get_running_loop()
    names = Names(common.nats_prefix)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    logger.info("service starting service=%s instance=%s pid=%d", name, common.instance, os.getpid())
    nc = await connect(common.nats_url, f"hfd-{name}-{common.instance}")
    js = nc.jetstream()
    await ensure_streams(js, names, list(STREAM_SUBJECTS))
    db = Database(common.database_url) if database else None
    ctx = ServiceContext(
        name=name,
        common=common,
        names=names,
        nc=nc,
        js=js,
        rpc=RpcService(nc, names, name, SERVICE_VERSION),
        client=RpcClient(nc, names),
        db=db,
        stopping=stopping,
    )
    _start_metrics(name, common)

    try:
        await start(ctx)
        await ctx.rpc.start()
        logger.info("service ready service=%s", name)
        await stopping.wait()
    finally:
        await _shutdown(ctx)
    return ctx.crashed


def _start_metrics(name: str, common: CommonSettings) -> None:
    port = common.metrics_port if common.metrics_port is not None else DEFAULT_METRICS_PORTS.get(name, 0)
    if port < 0:
        return
    try:
        start_metrics_server(common.metrics_host, port)
    except OSError as error:
        logger.warning("metrics endpoint not started service=%s port=%d error=%s", name, port, error)


async def _shutdown(ctx: ServiceContext) -> None:
    logger.info("service stopping service=%s", ctx.name)
    ctx.stopping.set()
    await ctx.rpc.stop()
    for task in ctx.tasks:
        task.cancel()
    await asyncio.gather(*ctx.tasks, return_exceptions=True)
    for cleanup in reversed(ctx.cleanups):
        try:
            await cleanup()
        except Exception:
            logger.exception("cleanup failed service=%s", ctx.name)
    # Endpoints and consumers are already stopped, so a drain would only wait on the cancelled
    # pull subscriptions. A flush sends what was published before the connection closes.
    try:
        await ctx.nc.flush(timeout=2)
    except Exception as error:
        logger.warning("nats flush at stop failed service=%s error=%s", ctx.name, error)
    await ctx.nc.close()
    if ctx.db is not None:
        await ctx.db.dispose()
    logger.info("service stopped service=%s", ctx.name)
