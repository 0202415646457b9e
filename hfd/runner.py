"""``hfd run``: the whole stack in the foreground, each service in its own process.

Without ``HFD_NATS_URL`` / ``HFD_DATABASE_URL`` it starts NATS and PostgreSQL itself, with
their data under ``--var``. Ctrl-C or SIGTERM stops the gateway, then the services, then the
servers. A service that crashes is restarted with backoff.
"""

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx

from hfd.embedded import EmbeddedNats, EmbeddedPostgres, free_port

logger = logging.getLogger("hfd.run")

BACKEND_SERVICES = ("auth", "inventory", "collector", "faults", "ai")
STOP_TIMEOUT_SECONDS = 15
MAX_RESTART_DELAY_SECONDS = 30


@dataclass
class Child:
    """One supervised service process."""

    service: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env, start_new_session=True)
        self.started_at = time.monotonic()
        logger.info("service started service=%s pid=%d", self.service, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Stack:
    """The running stack: embedded servers and service processes."""

    var_dir: Path
    port: int
    host: str = "127.0.0.1"
    services: tuple[str, ...] = BACKEND_SERVICES
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None
    children: list[Child] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start servers (when needed) and every service; return once the gateway answers."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.env = self._environment()
        for service in self.services:
            self._spawn(service, ["serve", service])
        self._spawn("gateway", ["serve", "gateway", "--host", self.host, "--port", str(self.port)])
        self.wait_ready()

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("HFD_VAR_DIR", str(self.var_dir))
        env.setdefault("HFD_LOG_FORMAT", "console")
        if not env.get("HFD_NATS_URL"):
            self.nats = EmbeddedNats(self.var_dir / "nats")
            env["HFD_NATS_URL"] = self.nats.start()
        if not env.get("HFD_DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.var_dir / "postgres")
            env["HFD_DATABASE_URL"] = self.postgres.start()
        return env

    def _spawn(self, service: str, arguments: list[str]) -> None:
        env = dict(self.env)
        if service != "gateway":
            # Each backend serves /metrics on a port of its own; the gateway serves it on its API port.
            env["HFD_METRICS_PORT"] = str(free_port())
        child = Child(service, [sys.executable, "-m", "hfd.cli", *arguments], env)
        child.start()
        self.children.append(child)

    def wait_ready(self, timeout: float = 120.0) -> dict:
        """Poll the gateway's health endpoint until every service reports ``ok``."""
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            self.supervise()
            try:
                response = httpx.get(f"{self.base_url}/api/v1/health", timeout=3)
                last = response.json()
                if last.get("status") == "ok":
                    return last
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the stack did not become healthy within {timeout:.0f}s; last health: {last}")

    def supervise(self) -> None:
        """Restart any service that exited, with exponential backoff."""
        now = time.monotonic()
        for child in self.children:
            if child.alive() or child.process is None:
                continue
            if child.next_start == 0.0:
                if now - child.started_at > 60:
                    child.restarts = 0
                delay = min(MAX_RESTART_DELAY_SECONDS, 2**child.restarts)
                child.next_start = now + delay
                logger.error(
                    "service exited service=%s status=%s restart_in=%ds",
                    child.service,
                    child.process.returncode,
                    delay,
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()

    def stop(self) -> None:
        """Stop the gateway first, then the services, then the embedded servers."""
        for group in (["gateway"], list(self.services)):
            members = [child for child in self.children if child.service in group and child.alive()]
            for child in members:
                child.process.send_signal(signal.SIGTERM)
            for child in members:
                try:
                    child.process.wait(STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    logger.warning("service did not stop in time, killing service=%s", child.service)
                    child.process.kill()
                    child.process.wait()
                logger.info("service stopped service=%s", child.service)
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()


class _Stop(Exception):
    pass


def _raise_stop(signum, frame) -> None:
    raise _Stop()


def run_stack(stack: Stack, on_ready=None) -> None:
    """Run ``stack`` until Ctrl-C or SIGTERM, supervising its processes."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        stack.start()
        if on_ready is not None:
            on_ready(stack)
        while True:
            stack.supervise()
            time.sleep(0.5)
    except (_Stop, KeyboardInterrupt):
        logger.info("stopping")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


def configure_cli_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def print_ready(stack: Stack) -> None:
    click.echo(f"hfd is running: API {stack.base_url}/api/v1, docs {stack.base_url}/docs (Ctrl-C stops)")
    admin = os.environ.get("HFD_BOOTSTRAP_ADMIN", "")
    if admin:
        click.echo(f"log in as {admin.split(':', 1)[0]} (POST {stack.base_url}/api/v1/user/login)")


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Gateway TCP port.")
@click.option(
    "--var",
    "var_dir",
    default="var",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the embedded servers' data and development secrets.",
)
def run(port: int, var_dir: Path) -> None:
    """Run the whole stack in the foreground: gateway on 127.0.0.1:PORT and every service."""
    configure_cli_logging()
    stack = Stack(var_dir=var_dir.resolve(), port=port)
    run_stack(stack, on_ready=print_ready)
