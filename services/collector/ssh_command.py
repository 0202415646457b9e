"""One command over an open SSH connection: capped stdout and stderr, a timeout and the exit code."""

import asyncio
import time
from dataclasses import dataclass

import asyncssh

from services.collector.telemetry import SSH_ERRORS

DEFAULT_MAX_OUTPUT = 1_048_576
_READ_SIZE = 65536


@dataclass
class CommandResult:
    """Outcome of one command run on a node. ``exit_code`` is None after a timeout and -1 after a signal."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: int
    truncated: bool
    timed_out: bool


@dataclass
class BinaryResult:
    """Like ``CommandResult``, with stdout kept as bytes."""

    exit_code: int | None
    stdout: bytes
    stderr: str
    duration_ms: int
    truncated: bool
    timed_out: bool


async def run_on_connection(
    connection: asyncssh.SSHClientConnection, command: str, timeout: float, max_output: int
) -> BinaryResult:
    """Run the quoted ``command`` on an open connection, keeping at most ``max_output`` bytes per stream."""
    started = time.perf_counter()
    process = await connection.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
    stdout, stderr = bytearray(), bytearray()
    truncated = False

    async def pump(stream: asyncssh.SSHReader, buffer: bytearray) -> None:
        nonlocal truncated
        while chunk := await stream.read(_READ_SIZE):
            room = max_output - len(buffer)
            if room > 0:
                buffer.extend(chunk[:room])
            if len(chunk) > room:
                truncated = True

    timed_out = False
    try:
        await asyncio.wait_for(
            asyncio.gather(pump(process.stdout, stdout), pump(process.stderr, stderr), process.wait_closed()),
            timeout=timeout,
        )
    except TimeoutError:
        timed_out = True
        SSH_ERRORS.labels("timeout").inc()
        process.close()

    return BinaryResult(
        exit_code=None if timed_out else process.exit_status,
        stdout=bytes(stdout),
        stderr=stderr.decode("utf-8", errors="replace"),
        duration_ms=int((time.perf_counter() - started) * 1000),
        truncated=truncated,
        timed_out=timed_out,
    )
