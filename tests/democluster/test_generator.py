"""Generated logs: file names, record layout, banners and normal traffic."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from hfd.democluster.cluster import generated_roles
from libs.common.logformat import iter_records, log_type_from_filename, parse_header
from tests.democluster.helpers import read_text, wait_for

HEADER_RE = re.compile(r"^20\d\d-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARN|ERROR|FATAL|DEBUG) [\w.$]+: ")
EXPECTED_FILES = {
    "demo-nn1": [
        "hadoop-hadoop-namenode-demo-nn1.log",
        "yarn-hadoop-resourcemanager-demo-nn1.log",
        "mapred-hadoop-historyserver-demo-nn1.log",
        "hdfs-audit.log",
    ],
    "demo-dn1": ["hadoop-hadoop-datanode-demo-dn1.log", "yarn-hadoop-nodemanager-demo-dn1.log"],
}


def test_generated_roles_master_and_workers():
    assert generated_roles(3, "demo", False) == [
        ("demo-nn1", ("namenode", "resourcemanager", "historyserver")),
        ("demo-dn1", ("datanode", "nodemanager")),
        ("demo-dn2", ("datanode", "nodemanager")),
    ]
    assert generated_roles(1, "demo", True) == [
        ("demo-nn1", ("namenode", "datanode", "resourcemanager", "nodemanager", "historyserver", "secondarynamenode")),
    ]


async def test_logs_written_to_hadoop_file_names(cluster):
    for node, names in EXPECTED_FILES.items():
        log_dir = cluster.manifest.node(node).log_dirs[0]
        for name in names:
            assert await wait_for(lambda path=log_dir / name: path.exists() and path.stat().st_size > 0), name


async def test_log_types_read_from_file_names(cluster):
    log_dir = cluster.manifest.node("demo-dn1").log_dirs[0]
    types = {log_type_from_filename(path.name) for path in log_dir.iterdir()}

    assert types == {"datanode", "nodemanager"}


async def test_records_have_parseable_timestamps(cluster):
    path = cluster.log_path("demo-dn1", "datanode")
    assert await wait_for(lambda: len(read_text(path).splitlines()) > 40)

    text = read_text(path)
    records = list(iter_records(text.splitlines(), str(path)))
    now = datetime.now(UTC)
    assert all(record.header is not None for record in records)
    for record in records:
        first_line = record.text.splitlines()[0]
        assert HEADER_RE.match(first_line), first_line
        assert abs(now - record.header.timestamp) < timedelta(minutes=1)
        assert record.header.logger.startswith("org.apache.hadoop.")


async def test_startup_banner_and_out_file(cluster):
    node = cluster.manifest.node("demo-nn1")
    log_text = read_text(cluster.log_path("demo-nn1", "namenode"))
    out_text = read_text(node.log_dirs[0] / "hadoop-hadoop-namenode-demo-nn1.out")

    assert "STARTUP_MSG: Starting NameNode" in log_text
    assert "STARTUP_MSG:   host = demo-nn1/127.0.0.2" in log_text
    assert out_text.startswith("ulimit -a for user hadoop\n")
    assert "open files                      (-n) 1024" in out_text


async def test_normal_traffic_contains_hadoop_activity(cluster):
    datanode = cluster.log_path("demo-dn1", "datanode")
    nodemanager = cluster.log_path("demo-dn1", "nodemanager")
    audit = cluster.log_path("demo-nn1", "audit")
    history = cluster.log_path("demo-nn1", "historyserver")

    assert await wait_for(lambda: "op: HDFS_" in read_text(datanode), timeout=10)
    assert await wait_for(lambda: "transitioned from" in read_text(nodemanager), timeout=10)
    assert await wait_for(lambda: "cmd=" in read_text(audit), timeout=10)
    assert await wait_for(lambda: "Starting scan to move intermediate done files" in read_text(history), timeout=10)
    assert "Instantiated HistoryClientService at demo-nn1/127.0.0.2:10020" in read_text(history)
    audit_line = read_text(audit).splitlines()[0]
    assert parse_header(audit_line).logger == "FSNamesystem.audit"
    assert "\tugi=hadoop (auth:SIMPLE)\t" in audit_line


async def test_append_lines_writes_exact_content(cluster):
    lines = ["2026-12-04 10:00:00,000 WARN org.example.Test: exact line", "\tcontinuation"]

    path = cluster.append_lines("demo-dn1", "datanode", lines)

    assert path == cluster.log_path("demo-dn1", "datanode")
    assert "2026-12-04 10:00:00,000 WARN org.example.Test: exact line\n\tcontinuation\n" in read_text(path)


async def test_append_lines_rejects_unknown_log_type(cluster):
    with pytest.raises(ValueError, match="demo-dn1"):
        cluster.append_lines("demo-dn1", "namenode", ["x"])


async def test_traffic_rate_is_near_configured(cluster):
    path = cluster.log_path("demo-dn2", "datanode")
    await wait_for(lambda: path.exists())
    start = len([line for line in read_text(path).splitlines() if HEADER_RE.match(line)])

    await wait_for(lambda: False, timeout=2.0)

    end = len([line for line in read_text(path).splitlines() if HEADER_RE.match(line)])
    # 20 records per second configured: 2 s give about 40, Poisson-spread.
    assert 15 <= end - start <= 80
