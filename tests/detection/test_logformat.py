"""Tests of Hadoop log line parsing: headers, records and log types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.common.logformat import header_fields, iter_records, log_type_from_filename, parse_header


def test_parse_header_mapreduce_layout_with_thread() -> None:
    header = parse_header(
        "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster"
    )
    assert header is not None
    assert header.timestamp == datetime(2015, 10, 18, 18, 1, 47, 978000, tzinfo=UTC)
    assert header.level == "INFO"
    assert header.thread == "main"
    assert header.logger == "org.apache.hadoop.mapreduce.v2.app.MRAppMaster"
    assert header.message == "Created MRAppMaster"


def test_parse_header_daemon_layout_without_thread() -> None:
    header = parse_header("2018-11-14 08:44:04,381 WARN org.apache.hadoop.hdfs.server.datanode.DataNode: "
                          "Problem connecting to server: Master:9000")
    assert header is not None
    assert header.thread is None
    assert header.level == "WARN"
    assert header.logger == "org.apache.hadoop.hdfs.server.datanode.DataNode"
    assert header.message == "Problem connecting to server: Master:9000"


def test_parse_header_hdfs_v1_layout() -> None:
    header = parse_header("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
                          "blk_38865049064139660 terminating")
    assert header is not None
    assert header.timestamp == datetime(2008, 11, 9, 20, 36, 15, tzinfo=UTC)
    assert header.logger == "dfs.DataNode$PacketResponder"
    assert header.thread == "148"


def test_parse_header_slashed_date_layout() -> None:
    header = parse_header("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers")
    assert header is not None
    assert header.timestamp == datetime(2017, 6, 9, 20, 10, 40, tzinfo=UTC)
    assert header.logger == "executor.CoarseGrainedExecutorBackend"


def test_parse_header_zookeeper_layout() -> None:
    header = parse_header("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:"
                          "FastLeaderElection@774] - Notification time out: 3200")
    assert header is not None
    assert header.logger == "FastLeaderElection"
    assert header.thread == "QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181"
    assert header.message == "Notification time out: 3200"


def test_parse_header_thread_with_brackets() -> None:
    header = parse_header("2019-01-01 00:00:00,001 ERROR [DataXceiver for client at /10.0.0.5:41234 "
                          "[Receiving block BP-1:blk_1_1]] org.apache.hadoop.hdfs.server.datanode.DataNode: boom")
    assert header is not None
    assert header.thread == "DataXceiver for client at /10.0.0.5:41234 [Receiving block BP-1:blk_1_1]"
    assert header.message == "boom"


def test_parse_header_normalises_warning() -> None:
    header = parse_header("2019-01-01 00:00:00,001 WARNING org.example.Thing: careful")
    assert header is not None
    assert header.level == "WARN"


def test_parse_header_keeps_explicit_offset() -> None:
    header = parse_header("2019-01-01T08:00:00.123+0800 INFO org.example.Thing: hello")
    assert header is not None
    assert header.timestamp == datetime(2019, 1, 1, 8, 0, 0, 123000, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize(
    "line",
    [
        "\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)",
        "Caused by: java.net.ConnectException: 拒绝连接",
        "/************************************************************",
        "STARTUP_MSG: Starting DataNode",
        "java.io.IOException: There is not enough space on the disk",
        "",
        "2019-13-01 is not a header",
    ],
)
def test_parse_header_rejects_non_headers(line: str) -> None:
    assert parse_header(line) is None


def test_iter_records_groups_stack_trace_with_header() -> None:
    lines = [
        "orphan line before any header\n",
        "2019-02-21 13:59:29,611 INFO org.apache.hadoop.ipc.Client: Retrying connect\n",
        "2019-02-21 13:59:30,000 WARN org.apache.hadoop.hdfs.server.datanode.DataNode: IOException in offerService\n",
        "java.net.ConnectException: Connection refused\n",
        "\tat sun.nio.ch.SocketChannelImpl.checkConnect(Native Method)\n",
        "2019-02-21 13:59:31,000 INFO org.apache.hadoop.ipc.Client: next\n",
    ]
    records = list(iter_records(lines, "dn.log", first_line=10))

    assert [r.header is None for r in records] == [True, False, False, False]
    assert records[2].text.splitlines()[1] == "java.net.ConnectException: Connection refused"
    assert (records[2].first_line, records[2].last_line) == (12, 14)
    assert records[3].first_line == 15
    assert records[0].source == "dn.log"
    assert not records[2].text.endswith("\n")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hadoop-hdfs-namenode-host1.log", "namenode"),
        ("yarn-yarn-resourcemanager-host.log", "resourcemanager"),
        ("mapred-mapred-historyserver-host.example.com.log", "historyserver"),
        ("hadoop-hdfs-datanode-host1.out", "datanode"),
        ("hadoop-hdfs-secondarynamenode-host1.log.3", "secondarynamenode"),
        ("hadoop-hdfs-zkfc-nn1.log", "zkfc"),
        ("yarn-yarn-nodemanager-worker7.log", "nodemanager"),
        ("container_1445062781478_0011_01_000001.log", "container"),
        ("container_e17_1445062781478_0011_01_000001.log", "container"),
        ("/var/log/hadoop/Spark_2k.log", "spark_2k"),
        ("hadoop265-datanode-master-unreachable.log", "datanode"),
    ],
)
def test_log_type_from_filename(name: str, expected: str) -> None:
    assert log_type_from_filename(name) == expected


HEADER_FIELD_CASES = [
    "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster\n",
    "2018-11-14 08:44:04,381 WARNING org.apache.hadoop.hdfs.server.datanode.DataNode: Problem\r\n",
    "2018-11-14 08:44:04,381 ERROR org.apache.hadoop.hdfs.server.datanode.DataNode:\n",
    "2018-11-14 08:44:04,381 INFO org.apache.hadoop.ipc.Server -\n",
    "2018-11-14 08:44:04,381 INFO org.apache.hadoop.ipc.Server - message\n",
    "2018-11-14 08:44:04,381 INFO [DataXceiver for client at /10.0.0.1:5 [Receiving block]] a.B: x\n",
    "2018-13-14 08:44:04,381 INFO a.B: month 13\n",
    "2018-11-14T08:44:04.381+08:00 INFO a.B: with a zone\n",
    "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Leader@493] - msg\n",
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1\n",
    "17/06/09 20:10:40 INFO executor.Executor: Running task\n",
    "\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)\n",
    "2018-11-14 08:44:04,381\n",
    "",
]


def _fields_of(line: str) -> tuple | None:
    header = parse_header(line)
    return None if header is None else (header.timestamp, header.level, header.logger)


@pytest.mark.parametrize("line", HEADER_FIELD_CASES)
def test_header_fields_match_parse_header(line: str) -> None:
    assert header_fields(line) == _fields_of(line)


def test_header_fields_on_real_logs(logs_dir) -> None:
    checked = 0
    for path in sorted(logs_dir.rglob("*.log")):
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for line in handle:
                assert header_fields(line) == _fields_of(line), f"{path}: {line!r}"
                checked += 1
    assert checked > 10_000
