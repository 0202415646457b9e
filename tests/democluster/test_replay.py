"""Replay of log folders: node per entry, Hadoop file names, timestamps moved to now, pacing."""

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hfd.democluster.cluster import DemoCluster
from hfd.democluster.replay import ReplayRuntime
from hfd.democluster.replaysource import detect_kind, plan_replay
from libs.common.logformat import log_type_from_filename, parse_header
from tests.democluster.helpers import fast_config, read_text, run, wait_for

STAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}|\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}|\d{6} \d{6})")

NAMENODE_LOG = """\
2015-03-01 10:00:00,100 INFO org.apache.hadoop.hdfs.server.namenode.NameNode: STARTUP_MSG:\x20
/************************************************************
STARTUP_MSG: Starting NameNode
STARTUP_MSG:   version = 2.7.1
************************************************************/
2015-03-01 10:00:02,100 INFO org.apache.hadoop.hdfs.server.namenode.FSNamesystem: fsOwner = hdfs
2015-03-01 10:00:05,100 WARN org.apache.hadoop.hdfs.server.namenode.FSNamesystem: Encountered exception
java.io.IOException: synthetic failure for the test
\tat org.example.Fake.method(Fake.java:1)
\tat java.lang.Thread.run(Thread.java:745)
2015-03-01 10:00:04,900 INFO org.apache.hadoop.hdfs.StateChange: written out of order
2015-03-01 10:00:06,100 INFO org.apache.hadoop.hdfs.StateChange: STATE* Safe mode is OFF
"""

FIRST_CONTAINER_LOG = """\
2016-04-02 08:12:30,250 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: first record of one
2016-04-02 08:12:34,250 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: second record of one
"""
SECOND_CONTAINER_LOG = """\
2016-04-02 08:12:32,250 INFO [main] org.apache.hadoop.mapred.YarnChild: first record of two
2016-04-02 08:12:36,250 INFO [main] org.apache.hadoop.mapred.YarnChild: second record of two
"""
COMPACT_STAMP_LOG = """\
090312 071500 42 INFO dfs.DataNode$PacketResponder: test record one for blk_101
090312 071505 42 INFO dfs.DataNode$PacketResponder: test record two for blk_102
"""
SPARK_LOG = """\
18/02/21 06:30:10 INFO executor.CoarseGrainedExecutorBackend: test executor record
18/02/21 06:30:11 INFO spark.SecurityManager: test security record
"""


def write_sources(root: Path) -> Path:
    source = root / "logs"
    (source / "job-42").mkdir(parents=True)
    (source / "nn-host.log").write_text(NAMENODE_LOG)
    (source / "job-42" / "container_1459584000000_0042_01_000001.log").write_text(FIRST_CONTAINER_LOG)
    (source / "job-42" / "container_1459584000000_0042_01_000002.log").write_text(SECOND_CONTAINER_LOG)
    (source / "hdfs-old.log").write_text(COMPACT_STAMP_LOG)
    (source / "spark.log").write_text(SPARK_LOG)
    (source / "README.md").write_text("no timestamps here\n")
    return source


def without_stamps(text: str) -> list[str]:
    return [STAMP_RE.sub("TS", line) for line in text.splitlines()]


async def replay_all(demo: DemoCluster, timeout: float = 10.0) -> None:
    runtimes = [runtime for runtime in demo.runtimes.values() if isinstance(runtime, ReplayRuntime)]
    await asyncio.wait_for(asyncio.gather(*(runtime.wait_done() for runtime in runtimes)), timeout)


def test_plan_maps_entries_to_nodes(tmp_path):
    plans = plan_replay(write_sources(tmp_path), "hadoop", 1700000000000)

    assert [plan.name for plan in plans] == ["hdfs-old", "job-42", "nn-host", "spark"]
    targets = {plan.name: [f.target_name for f in plan.files] for plan in plans}
    assert targets["nn-host"] == ["hadoop-hadoop-namenode-nn-host.log"]
    assert targets["hdfs-old"] == ["hadoop-hadoop-datanode-hdfs-old.log"]
    assert targets["job-42"] == ["container_1459584000000_0042_01_000001.log",
                                 "container_1459584000000_0042_01_000002.log"]
    assert targets["spark"] == ["container_1700000000000_0001_01_000001.log"]
    assert {plan.name: plan.daemons for plan in plans}["job-42"] == ["nodemanager"]


def test_plan_rejects_folder_without_logs(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to replay\n")

    with pytest.raises(ValueError, match="no log files"):
        plan_replay(tmp_path, "hadoop", 1)


async def test_replay_moves_timestamps_and_keeps_records(tmp_path):
    source = write_sources(tmp_path)
    demo = DemoCluster(fast_config(tmp_path / "cluster", logs_dir=source, speed=100.0))
    started = datetime.now(UTC).replace(tzinfo=None)
    await demo.start()
    try:
        await replay_all(demo)
        assert demo.manifest.mode == "replay"
        assert [node.address for node in demo.manifest.nodes] == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]

        log_dir = demo.manifest.node("nn-host").log_dirs[0]
        output = read_text(log_dir / "hadoop-hadoop-namenode-nn-host.log")
        assert without_stamps(output) == without_stamps(NAMENODE_LOG)

        headers = [parse_header(line) for line in output.splitlines() if STAMP_RE.match(line)]
        first = headers[0].timestamp.replace(tzinfo=None)
        assert abs(first - started) < timedelta(seconds=5)
        gaps = [(b.timestamp - a.timestamp).total_seconds() for a, b in zip(headers, headers[1:], strict=False)]
        # Source gaps of 2 s, 3 s, -0.2 s (out of order: no wait) and 1 s after the latest
        # earlier record, at speed 100.
        assert gaps == pytest.approx([0.02, 0.03, 0.0, 0.01], abs=0.0015)
    finally:
        await demo.stop()


async def test_replay_keeps_each_layout(tmp_path):
    source = write_sources(tmp_path)
    demo = DemoCluster(fast_config(tmp_path / "cluster", logs_dir=source, speed=100.0))
    await demo.start()
    try:
        await replay_all(demo)
        today = datetime.now(UTC)
        compact_log = read_text(demo.manifest.node("hdfs-old").log_dirs[0] / "hadoop-hadoop-datanode-hdfs-old.log")
        (spark_path,) = demo.manifest.node("spark").log_dirs[0].glob("container_*.log")
        spark = read_text(spark_path)

        assert compact_log.startswith(today.strftime("%y%m%d "))
        assert re.match(r"^\d{6} \d{6} 42 INFO dfs\.DataNode\$PacketResponder: ", compact_log)
        assert spark.startswith(today.strftime("%y/%m/%d "))
        assert without_stamps(compact_log) == without_stamps(COMPACT_STAMP_LOG)
        assert without_stamps(spark) == without_stamps(SPARK_LOG)
    finally:
        await demo.stop()


async def test_replay_folder_writes_container_logs_on_one_clock(tmp_path):
    source = write_sources(tmp_path)
    demo = DemoCluster(fast_config(tmp_path / "cluster", logs_dir=source, speed=100.0))
    await demo.start()
    try:
        await replay_all(demo)
        log_dir = demo.manifest.node("job-42").log_dirs[0]
        first_container = read_text(log_dir / "container_1459584000000_0042_01_000001.log")
        second_container = read_text(log_dir / "container_1459584000000_0042_01_000002.log")

        assert log_type_from_filename("container_1459584000000_0042_01_000001.log") == "container"
        assert without_stamps(first_container) == without_stamps(FIRST_CONTAINER_LOG)
        assert without_stamps(second_container) == without_stamps(SECOND_CONTAINER_LOG)
        first_start = parse_header(first_container.splitlines()[0]).timestamp
        second_start = parse_header(second_container.splitlines()[0]).timestamp
        # Two seconds apart in the source, so 20 ms apart at speed 100.
        assert (second_start - first_start).total_seconds() == pytest.approx(0.02, abs=0.0015)
        jps = await run(demo.manifest, "job-42", "jps")
        assert "NodeManager" in jps.stdout
    finally:
        await demo.stop()


async def test_replay_caps_long_waits(tmp_path):
    source = tmp_path / "logs"
    source.mkdir()
    (source / "gap.log").write_text(
        "2015-03-01 10:00:00,000 INFO org.apache.hadoop.hdfs.server.datanode.DataNode: before\n"
        "2015-03-01 11:00:00,000 INFO org.apache.hadoop.hdfs.server.datanode.DataNode: an hour later\n"
    )
    demo = DemoCluster(fast_config(tmp_path / "cluster", logs_dir=source, speed=1.0, max_replay_wait=0.2))
    await demo.start()
    try:
        await replay_all(demo, timeout=3)
        lines = read_text(demo.manifest.node("gap").log_dirs[0] / "hadoop-hadoop-datanode-gap.log").splitlines()
        gap = parse_header(lines[1]).timestamp - parse_header(lines[0]).timestamp
        assert gap.total_seconds() == pytest.approx(0.2, abs=0.0015)
    finally:
        await demo.stop()


async def test_looped_replay_of_short_source_waits_between_passes(tmp_path):
    source = tmp_path / "logs"
    source.mkdir()
    (source / "short.log").write_text(
        "2015-03-01 10:00:00,000 INFO org.apache.hadoop.hdfs.server.datanode.DataNode: first\n"
        "2015-03-01 10:00:00,001 INFO org.apache.hadoop.hdfs.server.datanode.DataNode: second\n"
    )
    config = fast_config(tmp_path / "cluster", logs_dir=source, speed=1000.0, loop_replay=True, min_replay_pass=0.5)
    demo = DemoCluster(config)
    await demo.start()
    try:
        await asyncio.sleep(1.2)
        [runtime] = [runtime for runtime in demo.runtimes.values() if isinstance(runtime, ReplayRuntime)]
        passes = runtime.passes_done
    finally:
        await demo.stop()

    # Passes start at 0, 0.5 and 1.0 s; without the wait there would be thousands.
    assert 2 <= passes <= 3


@pytest.mark.parametrize(
    ("logger", "file_name", "tool", "daemon"),
    [
        ("org.apache.hadoop.hdfs.server.datanode.DataNode", "hadoop-hadoop-datanode-slow.log", "hdfs", "datanode"),
        ("org.apache.hadoop.mapreduce.v2.hs.JobHistory", "mapred-hadoop-historyserver-slow.log", "mapred",
         "historyserver"),
    ],
)
async def test_replay_pauses_while_daemon_stopped(tmp_path, logger, file_name, tool, daemon):
    source = tmp_path / "logs"
    source.mkdir()
    records = "".join(f"2015-03-01 10:00:{second:02d},000 INFO {logger}: record {second}\n" for second in range(30))
    (source / "slow.log").write_text(records)
    demo = DemoCluster(fast_config(tmp_path / "cluster", logs_dir=source, speed=10.0))
    await demo.start()
    try:
        path = demo.manifest.node("slow").log_dirs[0] / file_name
        assert await wait_for(lambda: len(read_text(path).splitlines()) >= 2)

        stopped = await run(demo.manifest, "slow", f"{tool} --daemon stop {daemon}")
        assert stopped.exit_status == 0, stopped.stderr
        await asyncio.sleep(0.3)
        paused_count = len(read_text(path).splitlines())
        await asyncio.sleep(0.5)
        assert len(read_text(path).splitlines()) == paused_count
        assert paused_count < 30

        await run(demo.manifest, "slow", f"{tool} --daemon start {daemon}")
        assert await wait_for(lambda: len(read_text(path).splitlines()) > paused_count, timeout=2)
    finally:
        await demo.stop()


def test_detect_kind_from_markers(tmp_path):
    cases = {
        "a.log": ("2015-01-01 00:00:00,000 INFO org.apache.hadoop.yarn.server.resourcemanager.RMAppManager: x\n",
                  "resourcemanager"),
        "b.log": ("2016-01-05 09:00:00,001 - INFO  [QuorumPeer[myid=3]/127.0.0.1:2181:Follower@1] - x\n",
                  "zookeeper"),
        "namenode-c.log": ("2015-01-01 00:00:00,000 INFO org.example.Other: x\n", "namenode"),
        "d.log": ("2015-01-01 00:00:00,000 INFO org.example.Other: x\n", "unknown"),
    }
    for name, (content, kind) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        assert detect_kind(path) == kind, name


@pytest.mark.realdata
async def test_replay_real_daemon_logs(tmp_path, real_data):
    source = real_data / "daemon-logs"
    if not source.is_dir():
        pytest.skip(f"real Hadoop logs not found at {source}; set HFD_DATA_DIR")
    config = fast_config(tmp_path / "cluster", logs_dir=source, speed=1e6, max_replay_wait=0.001,
                         max_log_bytes=50_000_000)
    demo = DemoCluster(config)
    started = datetime.now(UTC).replace(tzinfo=None)
    await demo.start()
    try:
        await replay_all(demo, timeout=60)
        assert len(demo.manifest.nodes) == 6

        for node in demo.manifest.nodes:
            plan = demo.runtime(node.name).plan
            (replay_file,) = plan.files
            output = read_text(node.log_dirs[0] / replay_file.target_name)
            original = replay_file.source.read_text(encoding="utf-8", errors="surrogateescape")

            assert log_type_from_filename(replay_file.target_name) == replay_file.kind
            assert replay_file.kind in node.name
            assert without_stamps(output) == without_stamps(original)
            first = parse_header(output.splitlines()[0]).timestamp.replace(tzinfo=None)
            assert abs(first - started) < timedelta(seconds=10)
    finally:
        await demo.stop()
