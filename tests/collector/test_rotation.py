"""Rotation by rename and by copy-truncate: no record lost or repeated."""

import asyncio
import shutil
import uuid

import pytest

from tests.collector.conftest import Bus, entries_of
from tests.collector.test_tailing import write_records

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]


def assert_once_per_record(batches, expected_texts: list[str]) -> None:
    entries = entries_of(batches)
    msg_ids = [msg_id for msg_id, _ in batches]
    assert len(msg_ids) == len(set(msg_ids)), "a message id was published twice"
    texts = [entry.text for entry in entries]
    assert sorted(texts) == sorted(expected_texts), "records lost or repeated"
    assert len(texts) == len(set(texts))


async def test_rotation_by_rename_keeps_every_record(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("r1")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "hadoop-hdfs-datanode-r1.log"
    first = write_records(log_file, 1, 100)
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="r1")
        await bus.wait_for_records(cluster, 100)
        await asyncio.sleep(1.5)  # let the poll delay grow, so the rename lands between polls

        tail_of_old = write_records(log_file, 101, 40)
        log_file.rename(log_dir / "hadoop-hdfs-datanode-r1.log.1")
        new = write_records(log_file, 141, 60)
        batches = await bus.wait_for_records(cluster, 200)

    expected = [text for _, text in first + tail_of_old + new]
    assert_once_per_record(batches, expected)
    inodes = {batch.inode for _, batch in batches}
    assert len(inodes) == 2
    assert {batch.file for _, batch in batches} == {str(log_file)}
    assert "log file rotated" in collector.log("collector"), "the rest of the old inode was not read"


async def test_rotation_by_copytruncate_keeps_every_record(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("r2")
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log_file = log_dir / "yarn-yarn-nodemanager-r2.log"
    first = write_records(log_file, 1, 100)
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, log_dir, cluster_uuid=cluster, name="r2")
        await bus.wait_for_records(cluster, 100)
        await asyncio.sleep(1.5)

        tail_of_old = write_records(log_file, 101, 40)
        shutil.copyfile(log_file, log_dir / "yarn-yarn-nodemanager-r2.log.1")
        with log_file.open("r+b") as handle:
            handle.truncate(0)
        new = write_records(log_file, 141, 20)
        batches = await bus.wait_for_records(cluster, 160)

    expected = [text for _, text in first + tail_of_old + new]
    assert_once_per_record(batches, expected)
    assert all(batch.log_type == "nodemanager" for _, batch in batches)
    restarted = [msg_id for msg_id, batch in batches if "#" in msg_id]
    assert restarted, "batches after the truncation need their own message ids"
    assert "reading its copy" in collector.log("collector"), "the unread part of the copy was not read"
