"""Log folders reached through symbolic links: the tailer checks each folder's real path on the node.

``/dev/shm`` is used as the system tree here, because it lies under ``/dev`` and a test can write
there without touching any real system file.
"""

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.collector.conftest import Bus, entries_of
from tests.collector.test_tailing import write_records

pytestmark = [pytest.mark.sshd, pytest.mark.timeout(120)]

SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - a folder under /dev that the tailer must reject


@pytest.fixture
def system_folder():
    """A folder of this test under ``/dev/shm``, removed afterwards."""
    if not SHARED_MEMORY.is_dir() or not os.access(SHARED_MEMORY, os.W_OK):
        pytest.skip("/dev/shm is missing or not writable, so no folder under /dev can stand in for a system tree")
    folder = SHARED_MEMORY / f"hfd-link-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir(mode=0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def test_tailer_ignores_folder_linked_into_system_tree(infra, collector, sshd_factory, tmp_path, system_folder):
    node = sshd_factory("lk1")
    good_dir = tmp_path / "logs"
    good_dir.mkdir()
    good_file = good_dir / "hadoop-hdfs-datanode-lk1.log"
    expected = write_records(good_file, 1, 3)
    (system_folder / "logs").mkdir()
    write_records(system_folder / "logs" / "hadoop-hdfs-namenode-lk1.log", 1, 5)
    (tmp_path / "data").symlink_to(system_folder)
    linked_dir = tmp_path / "data" / "logs"
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, good_dir, cluster_uuid=cluster, name="lk1", log_dirs=[str(good_dir), str(linked_dir)])
        await bus.wait_for_records(cluster, len(expected))
        await asyncio.sleep(2)
        batches = await bus.log_batches(cluster)

    assert {batch.file for _, batch in batches} == {str(good_file)}
    assert len(entries_of(batches)) == len(expected)


async def test_tailer_follows_linked_folder_through_rotation(infra, collector, sshd_factory, tmp_path):
    node = sshd_factory("lk2")
    real_dir = tmp_path / "disk1" / "hadoop-logs"
    real_dir.mkdir(parents=True)
    real_file = real_dir / "hadoop-hdfs-datanode-lk2.log"
    first = write_records(real_file, 1, 4)
    linked_dir = tmp_path / "logs"
    linked_dir.symlink_to(real_dir)
    cluster = str(uuid.uuid4())

    async with Bus(infra) as bus:
        await bus.register(node, linked_dir, cluster_uuid=cluster, name="lk2")
        await bus.wait_for_records(cluster, len(first))
        # Records written just before a rename are read from the rotated copy, found by inode.
        before_rotation = write_records(real_file, 5, 2)
        real_file.rename(real_dir / "hadoop-hdfs-datanode-lk2.log.1")
        after_rotation = write_records(real_file, 7, 3)
        total = len(first) + len(before_rotation) + len(after_rotation)
        batches = await bus.wait_for_records(cluster, total)

    assert {batch.file for _, batch in batches} == {str(linked_dir / "hadoop-hdfs-datanode-lk2.log")}
    assert len(entries_of(batches)) == total
