"""Engine windows saved with each batch: a restart or an evicted engine counts as one process would."""

import asyncio
import logging
import signal
import uuid
from datetime import timedelta

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import update

from libs.common.catalog import load_catalog
from libs.common.db import Database, migrate
from libs.common.events import LogBatch, MetricSample
from libs.common.logformat import iter_records
from libs.common.timeutil import utcnow
from services.faults.config import FaultsSettings
from services.faults.detection.engine import DetectionEngine
from services.faults.engines import EngineRegistry, detect_logs
from services.faults.models import SCHEMA, EngineState
from tests.conftest import start_stack
from tests.faults_service.helpers import (
    SERVICE_ENV,
    LogFile,
    connect,
    hadoop_line,
    incidents_of,
    publish,
    spaced_time,
    wait_until,
)
from tests.faults_service.test_state_machine import MIGRATIONS

CLIENT_LOGGER = "org.apache.hadoop.ipc.Client"
# Counts as namenode_unreachable from its second occurrence on one source within 300 s.
RETRY_NAMENODE = "Retrying connect to server: nn1.example.com/10.0.0.1:8020. Already tried {n} time(s); maxRetries=45"
RETRY_SECONDS = 30


def retry_line(index: int) -> str:
    moment = spaced_time(0) + timedelta(seconds=RETRY_SECONDS * index)
    return hadoop_line(moment, "INFO", RETRY_NAMENODE.format(n=index), CLIENT_LOGGER)


def one_process_count(batches: list[LogBatch]) -> int:
    """Return the occurrences that one faults process, never restarted, counts for ``batches``."""
    catalog = load_catalog()
    engines = {(batch.cluster, batch.node): DetectionEngine(catalog) for batch in batches}
    result = detect_logs(engines, batches, catalog, FaultsSettings(), utcnow())
    return sum(group.count for group in result.groups.values())


@pytest.fixture(scope="module")
def stack(infra):
    running = start_stack(infra, "faults", **SERVICE_ENV)
    yield running
    running.stop()


@pytest.fixture
async def db(infra):
    await migrate(infra.database_url, SCHEMA, MIGRATIONS)
    database = Database(infra.database_url, pool_size=2)
    yield database
    await database.dispose()


async def _unfinished(nc, names) -> int:
    """Return the LOGS and METRICS messages that the faults service has not acknowledged yet."""
    left = 0
    for stream, durable in (("LOGS", "faults_logs"), ("METRICS", "faults_metrics")):
        try:
            info = await nc.jetstream().consumer_info(names.stream(stream), names.durable(durable))
        except NotFoundError:
            return -1  # the service has not created its consumers yet
        left += info.num_pending + info.num_ack_pending
    return left


async def _publish_samples(nc, names, cluster: str, node: str, minutes: range) -> None:
    start = utcnow() - timedelta(minutes=30)
    for minute in minutes:
        sample = MetricSample(cluster=cluster, node=node, sampled_at=start + timedelta(minutes=minute),
                              cpu_percent=20.0, memory_percent=30.0, disk_percent=97.0)
        await nc.jetstream().publish(names.metrics(cluster, node), sample.model_dump_json().encode())


async def test_sigkill_mid_window_counts_as_one_process(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "win1")
    before = [log.batch([retry_line(index)]) for index in range(3)]
    after = [log.batch([retry_line(index)]) for index in range(3, 6)]
    expected = one_process_count([batch for batch, _ in before + after])

    async def caught_up():
        return await _unfinished(nc, names) == 0

    # The disk stays at 97 % from minute 0; the 5-minute threshold window completes at minute 5.
    for batch, msg_id in before:
        await publish(nc, names, batch, msg_id)
    await _publish_samples(nc, names, cluster, "m1", range(0, 3))
    await wait_until(caught_up, timeout=30)
    counted_before = sum(item["count"] for item in await incidents_of(nc, names, cluster))

    stack.stop_service("faults", signal.SIGKILL)
    stack.start_service("faults")
    await asyncio.to_thread(stack.wait_ready)
    for batch, msg_id in after:
        await publish(nc, names, batch, msg_id)
    await _publish_samples(nc, names, cluster, "m1", range(3, 7))
    await wait_until(caught_up, timeout=60)
    items = await incidents_of(nc, names, cluster)
    await nc.close()

    counts = {item["type"]: item["count"] for item in items}
    assert expected == 5
    assert counted_before == 2
    assert counts.get("namenode_unreachable") == expected
    assert counts.get("resource_pressure") == 1


async def test_evicted_engine_keeps_its_windows(db):
    registry = EngineRegistry(load_catalog(), max_engines=1)
    cluster = str(uuid.uuid4())
    first, other = (cluster, "ev1"), (cluster, "ev2")

    found = []
    for index, key in enumerate([first, other, first]):
        async with db.session() as session:
            engines = await registry.load(session, {key})
            for record in iter_records([retry_line(index)], "/var/log/client.log"):
                found += engines[key].process(record, cluster=cluster, node=key[1], log_type="client")
            await registry.checkpoint(session, {key}, utcnow())

    assert [detection.kind for detection in found] == ["namenode_unreachable"]
    assert found[0].at == spaced_time(0) + timedelta(seconds=2 * RETRY_SECONDS)


async def test_corrupt_windows_start_empty(db, caplog):
    registry = EngineRegistry(load_catalog())
    key = (str(uuid.uuid4()), "bad1")
    async with db.session() as session:
        engines = await registry.load(session, {key})
        for record in iter_records([hadoop_line(spaced_time(0), "ERROR", "Widget 7 failed to frobnicate")], "a"):
            engines[key].process(record, cluster=key[0], node=key[1], log_type="datanode")
        await registry.checkpoint(session, {key}, utcnow())
    templates = engines[key].template_state()
    async with db.session() as session:
        await session.execute(update(EngineState).where(EngineState.cluster == key[0]).values(windows=b"\x00garbage"))

    restarted = EngineRegistry(load_catalog())
    with caplog.at_level(logging.ERROR, logger="services.faults.engines"):
        async with db.session() as session:
            engine = (await restarted.load(session, {key}))[key]

    assert engine.template_state() == templates
    assert engine.window_state() == DetectionEngine(load_catalog()).window_state()
    assert "saved window state unusable" in caplog.text
    assert key[0] in caplog.text
