"""Real NATS and PostgreSQL for the tests, and a stack of our services as subprocesses.

The tests use the servers running on this machine (127.0.0.1:4222 and 127.0.0.1:5432) when
they answer, and otherwise start embedded ones, so ``make test`` passes on a fresh clone
either way. Each test session gets its own database and its own NATS prefix, so runs
never see each other's data.
"""

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from hfd.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_open

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Infra:
    """Connection details of the test session's NATS and PostgreSQL."""

    nats_url: str
    database_url: str
    admin_database_url: str
    database_name: str
    prefix: str
    work_dir: Path
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    secret_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    _embedded: list = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a service process of this test session."""
        environment = {
            **os.environ,
            "HFD_ENV": "development",
            "HFD_NATS_URL": self.nats_url,
            "HFD_DATABASE_URL": self.database_url,
            "HFD_NATS_PREFIX": self.prefix,
            "HFD_JWT_SECRET": self.jwt_secret,
            "HFD_SECRET_KEY": self.secret_key,
            "HFD_VAR_DIR": str(self.work_dir / "var"),
            "HFD_METRICS_PORT": "0",
            "HFD_LOG_FORMAT": "console",
            "HFD_LOG_LEVEL": "INFO",
        }
        environment.update(extra)
        return environment


def start_infra(admin_database_url: str | None = None) -> Infra:
    """Find or start NATS and PostgreSQL and create this session's database.

    ``admin_database_url`` selects a PostgreSQL server that the caller owns, such as one that a
    test kills. Stale sessions are then not swept: that server contains none of the databases of
    the sessions on the shared NATS server, so every one of them would look stale.
    """
    work_dir = Path(tempfile.mkdtemp(prefix="hfd-test-"))
    embedded = []

    nats_url = os.environ.get("HFD_TEST_NATS_URL")
    if not nats_url:
        if port_open("127.0.0.1", 4222):
            nats_url = "nats://127.0.0.1:4222"
        else:
            server = EmbeddedNats(work_dir / "nats")
            nats_url = server.start()
            embedded.append(server)

    admin_url = admin_database_url or os.environ.get("HFD_TEST_DATABASE_URL")
    if not admin_url:
        if port_open("127.0.0.1", 5432):
            admin_url = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        else:
            server = EmbeddedPostgres(work_dir / "postgres")
            admin_url = server.start().rsplit("/", 1)[0] + "/postgres"
            embedded.append(server)

    if admin_database_url is None:
        asyncio.run(sweep_stale_sessions(nats_url, admin_url))
    suffix = secrets.token_hex(4)
    database_name = f"hfd_test_{suffix}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{database_name}"'))
    asyncio.run(create_test_streams(nats_url, f"t{suffix}"))
    return Infra(
        nats_url=nats_url,
        database_url=admin_url.rsplit("/", 1)[0] + f"/{database_name}",
        admin_database_url=admin_url,
        database_name=database_name,
        prefix=f"t{suffix}",
        work_dir=work_dir,
        _embedded=embedded,
    )


def stop_infra(infra: Infra) -> None:
    """Drop the session's database, streams and buckets, and stop embedded servers."""
    try:
        asyncio.run(_delete_nats_objects(infra.nats_url, infra.prefix))
    except Exception as error:  # cleanup must not hide the test results
        print(f"warning: could not delete test streams: {error}", file=sys.stderr)
    try:
        asyncio.run(_execute(infra.admin_database_url, f'DROP DATABASE IF EXISTS "{infra.database_name}" WITH (FORCE)'))
    except Exception as error:
        print(f"warning: could not drop test database: {error}", file=sys.stderr)
    for server in reversed(infra._embedded):
        server.stop()
    shutil.rmtree(infra.work_dir, ignore_errors=True)


# Test streams get a small byte cap, so that a runaway test cannot fill the shared server's disk.
# The cap stays small because JetStream reserves each file stream's max_bytes from the server's
# storage at creation: large caps let only a few test sessions run at once, and the next fails
# with "insufficient storage resources".
TEST_STREAM_MAX_BYTES = 256 * 1024**2


async def create_test_streams(url: str, prefix: str) -> None:
    """Create every stream of ``prefix`` with small byte limits; services then find them and keep them."""
    import nats
    from nats.js.api import StorageType, StreamConfig

    from libs.common.bus import DUPLICATE_WINDOW_SECONDS, STREAM_LIMITS
    from libs.common.names import STREAM_SUBJECTS, Names

    names = Names(prefix)
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for stream in STREAM_SUBJECTS:
            config = StreamConfig(
                name=names.stream(stream),
                subjects=names.stream_subjects(stream),
                storage=StorageType.FILE,
                max_age=STREAM_LIMITS[stream]["max_age"],
                max_bytes=TEST_STREAM_MAX_BYTES,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
            await js.add_stream(config)
    finally:
        await nc.close()


STALE_SESSION_HOURS = 6
TEST_PREFIX = re.compile(r"^(?:KV_)?(t[0-9a-f]{8})_")


async def sweep_stale_sessions(nats_url: str, admin_url: str) -> None:
    """Delete streams and databases that killed test sessions left behind.

    A session's streams are stale when its database is gone, or when they are older than
    ``STALE_SESSION_HOURS`` (no test session runs that long); its database then goes too.
    """
    import asyncpg
    import nats

    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    nc = await nats.connect(nats_url)
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'hfd_test_%'")
        databases = {row["datname"] for row in rows}
        js = nc.jetstream()
        cutoff = datetime.now(UTC) - timedelta(hours=STALE_SESSION_HOURS)
        stale_prefixes = set()
        for info in await js.streams_info():
            match = TEST_PREFIX.match(info.config.name)
            if not match:
                continue
            prefix = match.group(1)
            created = info.created if isinstance(info.created, datetime) else None
            if f"hfd_test_{prefix[1:]}" not in databases or (created is not None and created < cutoff):
                stale_prefixes.add(prefix)
                await js.delete_stream(info.config.name)
        for prefix in stale_prefixes:
            await connection.execute(f'DROP DATABASE IF EXISTS "hfd_test_{prefix[1:]}" WITH (FORCE)')
    finally:
        await nc.close()
        await connection.close()


async def _execute(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _delete_nats_objects(url: str, prefix: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in await js.streams_info():
            stream = name.config.name
            if stream.startswith(f"{prefix}_") or stream.startswith(f"KV_{prefix}_"):
                await js.delete_stream(stream)
    finally:
        await nc.close()


class Stack:
    """Our services as real subprocesses (``hfd serve NAME``), with the gateway on a free port."""

    def __init__(self, infra: Infra, services: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.infra = infra
        self.services = services
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs_dir = infra.work_dir / f"logs-{secrets.token_hex(3)}"
        # Size of each service's log when its current process started, so that readiness is read
        # only from what that process wrote.
        self.log_offsets: dict[str, int] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Stack":
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            for service in self.services:
                self.start_service(service)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()  # a caller whose start failed has no stack to stop
            raise
        return self

    def start_service(self, service: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "hfd.cli", "serve", service]
        if service == "gateway":
            command += ["--port", str(self.port)]
        log_path = self.logs_dir / f"{service}.log"
        self.log_offsets[service] = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")  # noqa: SIM115 - closed at stop
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self.infra.env(**self.extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[service] = process
        return process

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every backend replies to ``$SRV.PING`` and logs that it is ready, and the gateway serves HTTP.

        The log line matters when another stack runs a replica of the same service: its replica
        replies to the ping before this stack's process is ready.
        """
        deadline = time.monotonic() + timeout
        backends = [name for name in self.services if name != "gateway"]
        asyncio.run(self._wait_pings(backends, deadline))
        if "gateway" in self.services:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    if _is_gateway_health(httpx.get(f"{self.base_url}/api/v1/health", timeout=2)):
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            raise TimeoutError(f"gateway not ready; see {self.logs_dir}/gateway.log")

    async def _wait_pings(self, services: list[str], deadline: float) -> None:
        import nats

        from libs.common.names import Names

        names = Names(self.extra_env.get("HFD_NATS_PREFIX", self.infra.prefix))
        url = self.extra_env.get("HFD_NATS_URL", self.infra.nats_url)
        # HFD_NATS_URL may list several servers, comma-separated, as the services accept it.
        nc = await nats.connect([server.strip() for server in url.split(",") if server.strip()])
        try:
            for service in services:
                ping_subject = f"$SRV.PING.{names.service(service)}"
                while True:
                    self._check_alive()
                    if await _replies_to_ping(nc, ping_subject) and self._logged_ready(service):
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{service} not ready; see {self.logs_dir}/{service}.log") from None
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()

    def _logged_ready(self, service: str) -> bool:
        """Tell whether the current process of ``service`` has logged that it serves requests."""
        if service not in self.processes:
            return True  # a service started outside this stack
        if self.extra_env.get("HFD_LOG_LEVEL", "INFO").upper() not in ("DEBUG", "INFO"):
            return True  # the ready line is logged at INFO, so a quieter run (a benchmark) relies on the ping
        with open(self.logs_dir / f"{service}.log", "rb") as log:
            log.seek(self.log_offsets.get(service, 0))
            return f"service ready service={service}".encode() in log.read()

    def _check_alive(self) -> None:
        for service, process in self.processes.items():
            if process.poll() is not None:
                log = (self.logs_dir / f"{service}.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{service} exited with status {process.returncode}:\n{log}")

    def stop_service(self, service: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        process = self.processes.pop(service)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop(self) -> None:
        for service in list(self.processes):
            self.stop_service(service)

    def log(self, service: str) -> str:
        return (self.logs_dir / f"{service}.log").read_text(errors="replace")


async def _replies_to_ping(nc, subject: str) -> bool:
    try:
        await nc.request(subject, b"", timeout=0.5)
    except Exception:  # no responder yet, or a timeout
        return False
    return True


def _is_gateway_health(response: httpx.Response) -> bool:
    """Tell whether ``response`` is the gateway's health report, not another server's page on a reused port."""
    if response.status_code >= 500:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "status" in body
