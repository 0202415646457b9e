"""A real nats-server with the users of deploy/nats/accounts.conf, on a free loopback port.

The server's own configuration (listen address, store folder) is written to a temporary
folder beside a byte-for-byte copy of accounts.conf, because nats-server rejects a second
``store_dir`` given on the command line. Each user gets a random password through the
server's environment, the way deploy/nats/nats-server.conf expects it.
"""

import asyncio
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.client import Client

from hfd.embedded import LOOPBACK, free_port, nats_server_binary, port_open

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS_CONF = REPO_ROOT / "deploy" / "nats" / "accounts.conf"
SERVER_CONF = REPO_ROOT / "deploy" / "nats" / "nats-server.conf"
SERVICE_USERS = ("gateway", "auth", "inventory", "collector", "faults", "ai")
USERS = ("admin", *SERVICE_USERS)
# How long a check that expects no error waits for one that arrives after the flush.
LATE_ERROR_SECONDS = 0.05


def new_password() -> str:
    """Return a random password that nats-server reads back as a string from its environment."""
    return "p" + secrets.token_urlsafe(24)


def password_variable(user: str) -> str:
    """Return the environment variable that accounts.conf reads ``user``'s password from."""
    return f"{user.upper()}_NATS_PASSWORD"


@dataclass
class NatsUnderTest:
    """A nats-server child process that only the users of accounts.conf may use."""

    work_dir: Path
    port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(default_factory=lambda: {user: new_password() for user in USERS})
    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.work_dir / "nats-server.log"

    def environment(self) -> dict[str, str]:
        """The password variables that accounts.conf names, as the server process needs them."""
        return {password_variable(user): password for user, password in self.passwords.items()}

    def url(self, user: str) -> str:
        return f"nats://{user}:{self.passwords[user]}@{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 15.0) -> "NatsUnderTest":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ACCOUNTS_CONF, self.work_dir / "accounts.conf")
        config = self.work_dir / "server.conf"
        config.write_text(
            f'listen: "{LOOPBACK}:{self.port}"\n'
            f'jetstream {{ store_dir: "{self.work_dir / "store"}" }}\n'
            "include ./accounts.conf\n"
        )
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed when the process ends
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            env={"PATH": "/usr/bin:/bin", **self.environment()},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not port_open(LOOPBACK, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with status {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server did not listen on {LOOPBACK}:{self.port}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def violations(self) -> list[str]:
        """Return the server's log lines about denied publishes and subscriptions."""
        return [line for line in self.log().splitlines() if "Violation" in line]


@dataclass
class UserConnection:
    """A connection as one user, with the asynchronous errors the server sent it."""

    user: str
    nc: Client
    errors: list[str]
    arrived: asyncio.Event

    async def errors_after_flush(self, expected: int = 0, timeout: float = 2.0) -> list[str]:
        """Return the errors received once the server has handled everything sent before.

        With nats-server 2.15.1 a permission error sometimes arrives just after the flush's
        PONG, so this waits up to ``timeout`` seconds for ``expected`` errors, and with none expected
        it waits a moment and flushes once more before it returns.
        """
        await self.nc.flush(timeout=5)
        deadline = time.monotonic() + timeout
        while len(self.errors) < expected:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
        if expected == 0:
            await asyncio.sleep(LATE_ERROR_SECONDS)
            await self.nc.flush(timeout=5)
        return list(self.errors)

    async def close(self) -> None:
        await self.nc.close()


async def connect_as(server: NatsUnderTest, user: str) -> UserConnection:
    """Connect to ``server`` as ``user``, collecting the permission errors it reports."""
    errors: list[str] = []
    arrived = asyncio.Event()

    async def collect(error: Exception) -> None:
        errors.append(str(error))
        arrived.set()

    nc = await nats.connect(
        server.url(user), name=f"test-{user}", error_cb=collect, allow_reconnect=False, connect_timeout=5
    )
    return UserConnection(user=user, nc=nc, errors=errors, arrived=arrived)


# nats-py lowercases the server's error text, subject included.


def publish_violation(subject: str) -> str:
    return f'nats: permissions violation for publish to "{subject}"'.lower()


def subscribe_violation(subject: str, queue: str = "") -> str:
    text = f'nats: permissions violation for subscription to "{subject}"'
    return (f'{text} using queue "{queue}"' if queue else text).lower()
