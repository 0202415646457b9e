"""A faults service killed with SIGKILL while it consumes LOGS counts every occurrence exactly once."""

import asyncio
import signal
import time
import uuid

import asyncpg
import pytest

from tests.conftest import start_stack
from tests.faults_service.helpers import (
    DISK_FULL,
    OUT_OF_MEMORY,
    SERVICE_ENV,
    UNKNOWN_A,
    UNKNOWN_B,
    LogFile,
    connect,
    hadoop_line,
    incidents_of,
    publish,
    spaced_time,
    wait_until,
)

BATCHES = 400
RECORDS_PER_BATCH = 20
KILLS = 2
PUBLISH_CONCURRENCY = 50


@pytest.fixture(scope="module")
def stack(infra):
    running = start_stack(infra, "faults", HFD_FAULTS_CONSUMER_BATCH="10", **SERVICE_ENV)
    yield running
    running.stop()


def _record(index: int) -> tuple[str, str | None]:
    """Return the line of record ``index`` and the kind it must count as (None: no incident)."""
    moment = spaced_time(index)
    match index % 10:
        case 0 | 1 | 2:
            return hadoop_line(moment, "ERROR", DISK_FULL), "disk_full"
        case 3:
            return hadoop_line(moment, "FATAL", OUT_OF_MEMORY), "out_of_memory"
        case 4:
            return hadoop_line(moment, "ERROR", UNKNOWN_A.format(n=index)), "unknown_error"
        case 5:
            return hadoop_line(moment, "ERROR", UNKNOWN_B.format(n=index)), "unknown_error"
        case 6:
            return hadoop_line(moment, "WARN", f"Slow flush of block {index} took 800ms"), None
        case _:
            return hadoop_line(moment, "INFO", f"Received block {index} of size 1024"), None


def _expected(total: int) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    stored = 0
    for index in range(total):
        line, kind = _record(index)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
        if " INFO " not in line:
            stored += 1
    return counts, stored


async def _publish_all(nc, names, log: LogFile) -> None:
    batches = []
    for number in range(BATCHES):
        start = number * RECORDS_PER_BATCH
        batches.append(log.batch([_record(index)[0] for index in range(start, start + RECORDS_PER_BATCH)]))
    for first in range(0, len(batches), PUBLISH_CONCURRENCY):
        chunk = batches[first:first + PUBLISH_CONCURRENCY]
        await asyncio.gather(*(publish(nc, names, batch, msg_id) for batch, msg_id in chunk))


async def _unfinished(nc, names) -> int:
    """Return how many LOGS messages the faults service has not acknowledged yet."""
    info = await nc.jetstream().consumer_info(names.stream("LOGS"), names.durable("faults_logs"))
    return info.num_pending + info.num_ack_pending


async def _stored_logs(infra, cluster: str) -> int:
    connection = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await connection.fetchval("SELECT count(*) FROM faults.log_records WHERE cluster = $1", cluster)
    finally:
        await connection.close()


async def _kill_mid_stream(stack, nc, names, below: int) -> int:
    """SIGKILL the service once fewer than ``below`` messages are left; return how many were left."""
    deadline = time.monotonic() + 60
    left = 0
    while time.monotonic() < deadline:
        left = await _unfinished(nc, names)
        if left < below:
            stack.stop_service("faults", signal.SIGKILL)
            return left
        await asyncio.sleep(0.02)
    log = stack.log("faults")[-3000:]
    raise TimeoutError(f"the service never got part-way through the stream: {left=}\n{log}")


async def test_sigkill_counts_every_occurrence_once(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "crash1")
    expected, expected_stored = _expected(BATCHES * RECORDS_PER_BATCH)

    # A backlog published while the service is down makes sure the kills land mid-stream.
    stack.stop_service("faults")
    await _publish_all(nc, names, log)
    stack.start_service("faults")
    kills = []
    for number in range(KILLS):
        kills.append(await _kill_mid_stream(stack, nc, names, BATCHES * (KILLS - number) // (KILLS + 1)))
        stack.start_service("faults")
        await asyncio.to_thread(stack.wait_ready)

    async def caught_up():
        return await _unfinished(nc, names) == 0
    await wait_until(caught_up, timeout=90, interval=0.5)
    items = await incidents_of(nc, names, cluster)
    stored = await _stored_logs(infra, cluster)
    await nc.close()

    counted: dict[str, int] = {}
    for item in items:
        counted[item["type"]] = counted.get(item["type"], 0) + item["count"]
    assert all(0 < left < BATCHES for left in kills), kills
    assert counted == expected
    assert stored == expected_stored
    assert sum(1 for item in items if item["type"] == "unknown_error") == 2
