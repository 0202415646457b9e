"""Log rotation: log4j's rename and logrotate's copytruncate."""

import os

from hfd.democluster.cluster import DemoCluster
from hfd.democluster.logwriter import LogWriter, rotate_out_files, rotation_style
from tests.democluster.helpers import fast_config, read_text, wait_for

HEADER = "2026-12-04 10:00:00,000 INFO org.example.Test: "
LINE = HEADER + "x" * (99 - len(HEADER)) + "\n"  # 100 bytes


def test_rename_rotation_moves_file_and_shifts_backups(tmp_path):
    path = tmp_path / "hadoop-hadoop-datanode-h.log"
    writer = LogWriter(path, max_bytes=1000, backup_count=2, style="rename")
    writer.write(LINE * 10)
    first_inode = os.stat(tmp_path / "hadoop-hadoop-datanode-h.log.1").st_ino

    writer.write(LINE)
    assert os.stat(path).st_ino != first_inode
    assert path.stat().st_size == len(LINE)
    writer.write(LINE * 20)
    writer.write(LINE * 20)
    writer.close()

    assert writer.rotations == 3
    assert path.stat().st_size == 0
    assert (tmp_path / "hadoop-hadoop-datanode-h.log.1").stat().st_size == len(LINE) * 20
    assert (tmp_path / "hadoop-hadoop-datanode-h.log.2").exists()
    assert not (tmp_path / "hadoop-hadoop-datanode-h.log.3").exists()


def test_rename_rotation_keeps_reader_on_old_inode(tmp_path):
    path = tmp_path / "x.log"
    writer = LogWriter(path, max_bytes=200, backup_count=3, style="rename")
    writer.write(LINE)
    with path.open() as reader:
        writer.write(LINE * 3)
        writer.write("after rotation\n")
        old = reader.read()
    writer.close()

    assert "after rotation" not in old
    assert read_text(path) == "after rotation\n"


def test_copytruncate_keeps_inode_and_truncates(tmp_path):
    path = tmp_path / "yarn-hadoop-nodemanager-h.log"
    writer = LogWriter(path, max_bytes=1000, backup_count=3, style="copytruncate")
    writer.write(LINE)
    inode = os.stat(path).st_ino

    writer.write(LINE * 20)
    writer.write("next\n")
    writer.close()

    assert os.stat(path).st_ino == inode
    assert read_text(path) == "next\n"
    assert read_text(tmp_path / "yarn-hadoop-nodemanager-h.log.1") == LINE * 21


def test_rotation_style_mixed_by_daemon():
    assert rotation_style("mixed", "datanode") == "rename"
    assert rotation_style("mixed", "nodemanager") == "copytruncate"
    assert rotation_style("copytruncate", "namenode") == "copytruncate"


def test_out_files_shift_like_daemon_scripts(tmp_path):
    out = tmp_path / "hadoop-hadoop-namenode-h.out"
    for run in range(7):
        rotate_out_files(out)
        out.write_text(f"run {run}\n")

    assert read_text(out) == "run 6\n"
    assert read_text(tmp_path / "hadoop-hadoop-namenode-h.out.1") == "run 5\n"
    assert read_text(tmp_path / "hadoop-hadoop-namenode-h.out.5") == "run 1\n"
    assert not (tmp_path / "hadoop-hadoop-namenode-h.out.6").exists()


async def test_cluster_logs_rotate_both_ways(tmp_path):
    demo = DemoCluster(fast_config(tmp_path / "cluster", nodes=2, max_log_bytes=4096, lines_per_second=50))
    await demo.start()
    try:
        log_dir = demo.manifest.node("demo-dn1").log_dirs[0]
        datanode_backup = log_dir / "hadoop-hadoop-datanode-demo-dn1.log.1"
        nodemanager_backup = log_dir / "yarn-hadoop-nodemanager-demo-dn1.log.1"

        assert await wait_for(datanode_backup.exists, timeout=8)
        assert await wait_for(nodemanager_backup.exists, timeout=8)
        assert demo.runtime("demo-dn1").writers["datanode"].style == "rename"
        assert demo.runtime("demo-dn1").writers["nodemanager"].style == "copytruncate"
        assert datanode_backup.stat().st_size >= 4096
    finally:
        await demo.stop()
