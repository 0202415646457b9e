"""Crashes and outages: SIGKILL mid-file, NATS down, PostgreSQL killed. Every record arrives exactly once."""

import asyncio
import dataclasses
import signal
import uuid
from collections import Counter

import pytest

from hfd.embedded import EmbeddedNats
from tests.collector.conftest import Bus, collector_env, entries_of
from tests.collector.test_tailing import write_records
from tests.infra import Stack
from tests.killable_postgres import KillablePostgres

pytestmark = [pytest.mark.sshd, pytest.mark.slow, pytest.mark.timeout(240)]


def assert_exactly_once(batches, expected: list[tuple[int, str]]) -> None:
    by_offset = Counter(entry.offset for entry in entries_of(batches))
    repeated = [offset for offset, count in by_offset.items() if count > 1]
    assert not repeated, f"records published twice at offsets {repeated[:5]}"
    missing = [offset for offset, _ in expected if offset not in by_offset]
    assert not missing, f"records missing at offsets {missing[:5]}"
    msg_ids = Counter(msg_id for msg_id, _ in batches)
    assert max(msg_ids.values()) == 1, "a message id was stored twice"
    texts = {entry.offset: entry.text for entry in entries_of(batches)}
    assert all(texts[offset] == text for offset, text in expected)


async def test_sigkill_mid_file_then_restart(infra, sshd_factory, tmp_path):
    node = sshd_factory("k1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    expected = write_records(log_dir / "hadoop-hdfs-datanode-k1.log", 1, 8000)
    cluster = str(uuid.uuid4())
    env = collector_env(infra, tmp_path, HFD_COLLECTOR_READ_CHUNK_BYTES="4096", HFD_COLLECTOR_BATCH_MAX_RECORDS="7")

    stack = await asyncio.to_thread(Stack(infra, ["collector"], env).start)
    try:
        async with Bus(infra) as bus:
            await bus.register(node, log_dir, cluster_uuid=cluster, name="k1")
            partial = await bus.wait_for_records(cluster, 800, timeout=60)
            await asyncio.to_thread(stack.stop_service, "collector", signal.SIGKILL)
            killed_at = sum(len(batch.entries) for _, batch in partial)
            assert killed_at < len(expected), "the collector finished before it was killed"

            stack.start_service("collector")
            await asyncio.to_thread(stack.wait_ready)
            batches = await bus.wait_for_records(cluster, len(expected), timeout=90)
            await asyncio.sleep(2)
            batches = await bus.log_batches(cluster)
    finally:
        await asyncio.to_thread(stack.stop)

    assert_exactly_once(batches, expected)


async def test_nats_outage_loses_nothing(infra, sshd_factory, tmp_path):
    nats_server = EmbeddedNats(tmp_path / "nats")
    nats_server.start()
    own_infra = dataclasses.replace(infra, nats_url=nats_server.url)
    node = sshd_factory("o1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "hadoop-hdfs-namenode-o1.log"
    expected = write_records(log_file, 1, 200)
    cluster = str(uuid.uuid4())

    stack = await asyncio.to_thread(Stack(own_infra, ["collector"], collector_env(own_infra, tmp_path)).start)
    try:
        async with Bus(own_infra) as bus:
            await bus.register(node, log_dir, cluster_uuid=cluster, name="o1")
            await bus.wait_for_records(cluster, 200)

        nats_server.stop()
        expected += write_records(log_file, 201, 300)
        await asyncio.sleep(6)
        expected += write_records(log_file, 501, 100)
        nats_server = EmbeddedNats(tmp_path / "nats", port=nats_server.port)
        nats_server.start()

        async with Bus(own_infra) as bus:
            batches = await bus.wait_for_records(cluster, len(expected), timeout=60)
            await asyncio.sleep(2)
            batches = await bus.log_batches(cluster)
        assert "log publish failed" in stack.log("collector"), "the outage did not reach the publisher"
    finally:
        await asyncio.to_thread(stack.stop)
        nats_server.stop()

    assert_exactly_once(batches, expected)


async def test_database_crash_loses_nothing(infra, sshd_factory, tmp_path):
    postgres = KillablePostgres(tmp_path / "postgres")
    await asyncio.to_thread(postgres.start)
    own_infra = dataclasses.replace(infra, database_url=postgres.url)
    node = sshd_factory("p1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "hadoop-hdfs-namenode-p1.log"
    expected = write_records(log_file, 1, 200)
    cluster = str(uuid.uuid4())

    stack = await asyncio.to_thread(Stack(own_infra, ["collector"], collector_env(own_infra, tmp_path)).start)
    try:
        async with Bus(own_infra) as bus:
            await bus.register(node, log_dir, cluster_uuid=cluster, name="p1")
            await bus.wait_for_records(cluster, 200)

            await asyncio.to_thread(postgres.kill)
            # Polls read these records, then fail to store the batch boundaries.
            expected += write_records(log_file, 201, 300)
            await asyncio.sleep(4)
            expected += write_records(log_file, 501, 100)
            await asyncio.to_thread(postgres.restart)

            await bus.wait_for_records(cluster, len(expected), timeout=60)
            await asyncio.sleep(2)
            batches = await bus.log_batches(cluster)
        assert "tail poll failed" in stack.log("collector"), "the database crash did not reach the tailer"
    finally:
        await asyncio.to_thread(stack.stop)
        await asyncio.to_thread(postgres.stop)

    assert_exactly_once(batches, expected)
