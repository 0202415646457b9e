"""Log collection end to end: sshd node, collector process, LOGS stream read back."""

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.collector.conftest import Bus, entries_of, header_line, stack_trace

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


def write_records(path: Path, first: int, count: int, *, trace_every: int = 25) -> list[tuple[int, str]]:
    """Append ``count`` records to ``path``; return each record's (offset, text)."""
    expected = []
    with path.open("ab") as handle:
        for number in range(first, first + count):
            text = stack_trace(number) if number % trace_every == 0 else header_line(number)
            expected.append((handle.tell(), text.rstrip("\n")))
            handle.write(text.encode())
    return expected


def assert_exactly_once(entries, expected: list[tuple[int, str]]) -> None:
    offsets = [entry.offset for entry in entries]
    assert len(offsets) == len(set(offsets)), "a record was published twice"
    assert offsets == sorted(offsets), "records are out of order"
    assert [(entry.offset, entry.text) for entry in entries] == expected


async def test_collection_publishes_each_record_once(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("n1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "hadoop-hdfs-datanode-n1.log"
    expected = write_records(log_file, 1, 300)
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="n1")
        batches = await bus.wait_for_records(cluster, len(expected))

    entries = entries_of(batches)
    assert_exactly_once(entries, expected)
    traces = [entry for entry in entries if entry.level == "ERROR"]
    assert len(traces) == 12
    assert all(entry.text.count("\n") == 3 for entry in traces), "a stack trace was split"
    assert all(batch.log_type == "datanode" for _, batch in batches)
    assert all(batch.file == str(log_file) for _, batch in batches)
    assert all(len(batch.entries) <= 100 for _, batch in batches)
    msg_ids = [msg_id for msg_id, _ in batches]
    assert len(msg_ids) == len(set(msg_ids))
    first = batches[0][1]
    assert msg_ids[0].endswith(f":{log_file}:{first.inode}:0")
    assert entries[0].timestamp is not None
    assert entries[0].logger == "org.apache.hadoop.hdfs.server.datanode.DataNode"
    for entry, (offset, text) in zip(entries, expected, strict=True):
        assert entry.length == len(text.encode()) + 1, f"wrong length at offset {offset}"


async def test_partial_line_held_until_newline(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("n2")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "hadoop-hdfs-namenode-n2.log"
    expected = write_records(log_file, 1, 3)
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="n2")
        await bus.wait_for_records(cluster, 3)

        line = header_line(4).rstrip("\n")
        offset = log_file.stat().st_size
        with log_file.open("ab") as handle:
            handle.write(line[:40].encode())
        await asyncio.sleep(3)
        held = entries_of(await bus.log_batches(cluster))

        with log_file.open("ab") as handle:
            handle.write((line[40:] + "\n").encode())
        done = entries_of(await bus.wait_for_records(cluster, 4))

    assert [entry.offset for entry in held] == [offset for offset, _ in expected]
    assert done[-1].offset == offset
    assert done[-1].text == line
