"""Tests of the detection engine: cross-record rules, repetition, templates, bursts and metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.common.catalog import Catalog
from libs.common.logformat import LogHeader, LogRecord
from services.faults.detection.bursts import BurstDetector
from services.faults.detection.engine import DetectionEngine, evidence_of
from services.faults.detection.templates import TemplateMiner
from services.faults.detection.thresholds import ThresholdMonitor
from tests.detection.conftest import detect_text

START = datetime(2019, 5, 6, 10, 0, 0, tzinfo=UTC)


def stamp(offset_seconds: float) -> str:
    moment = START + timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}"


def kinds(detections: list) -> list[str]:
    return [d.kind for d in detections]


def test_most_specific_kind_wins(engine: DetectionEngine) -> None:
    text = (f"{stamp(0)} FATAL org.apache.hadoop.yarn.server.resourcemanager.ResourceManager: Error starting "
            "ResourceManager\njava.net.BindException: Problem binding to [rm1:8031] java.net.BindException: "
            "Address already in use")
    assert kinds(detect_text(engine, text, log_type="resourcemanager")) == ["port_in_use"]


def test_report_unreachable_node(engine: DetectionEngine) -> None:
    detection = engine.report_unreachable(cluster="c1", node="dn7", reason="SSH connect timed out after 10 s",
                                          at=START)
    assert detection.kind == "node_unreachable"
    assert detection.severity == "critical"
    assert detection.title_en == "Collector cannot reach the node over SSH"
    assert detection.evidence_text == "SSH connect timed out after 10 s"
    assert detection.record is None


def test_spill_failure_after_space_error_is_disk_full(engine: DetectionEngine) -> None:
    text = (
        f"{stamp(0)} FATAL [IPC Server handler 1 on 39673] org.apache.hadoop.mapred.TaskAttemptListenerImpl: "
        "Task: attempt_1_0004_m_000004_0 - exited : java.io.IOException: There is not enough space on the disk\n"
        f"{stamp(1)} FATAL [IPC Server handler 8 on 39673] org.apache.hadoop.mapred.TaskAttemptListenerImpl: "
        "Task: attempt_1_0004_m_000004_0 - exited : java.io.IOException: Spill failed"
    )
    assert kinds(detect_text(engine, text, log_type="container")) == ["disk_full", "disk_full"]


def test_spill_failure_alone_is_task_failure(engine: DetectionEngine) -> None:
    text = (f"{stamp(0)} FATAL [IPC Server handler 8 on 39673] org.apache.hadoop.mapred.TaskAttemptListenerImpl: "
            "Task: attempt_1_0004_m_000004_0 - exited : java.io.IOException: Spill failed")
    assert kinds(detect_text(engine, text, log_type="container")) == ["task_failure"]


def test_daemon_exit_after_specific_fault_is_not_reported(engine: DetectionEngine) -> None:
    text = (
        f"{stamp(0)} ERROR org.apache.hadoop.hdfs.server.namenode.NameNode: Failed to start namenode.\n"
        "java.net.BindException: Problem binding to [nn1:8020] java.net.BindException: Address already in use\n"
        f"{stamp(1)} INFO org.apache.hadoop.util.ExitUtil: Exiting with status 1"
    )
    assert kinds(detect_text(engine, text, log_type="namenode")) == ["port_in_use"]


def test_daemon_exit_without_cause_is_daemon_exited(engine: DetectionEngine) -> None:
    text = f"{stamp(0)} INFO org.apache.hadoop.util.ExitUtil: Exiting with status 1"
    assert kinds(detect_text(engine, text, log_type="namenode")) == ["daemon_exited"]


def test_shutdown_after_unknown_error_is_daemon_exited(engine: DetectionEngine) -> None:
    text = (
        f"{stamp(0)} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: Something nobody catalogued broke\n"
        f"{stamp(2)} INFO org.apache.hadoop.hdfs.server.datanode.DataNode: SHUTDOWN_MSG: \n"
        "/************************************************************\n"
        "SHUTDOWN_MSG: Shutting down DataNode at dn1/10.0.0.4\n"
        "************************************************************/"
    )
    assert kinds(detect_text(engine, text)) == ["unknown_error", "daemon_exited"]


def test_ordinary_shutdown_is_not_a_fault(engine: DetectionEngine) -> None:
    text = (
        f"{stamp(0)} ERROR org.apache.hadoop.hdfs.server.datanode.DataNode: RECEIVED SIGNAL 15: SIGTERM\n"
        f"{stamp(1)} INFO org.apache.hadoop.hdfs.server.datanode.DataNode: SHUTDOWN_MSG: \n"
        "SHUTDOWN_MSG: Shutting down DataNode at dn1/10.0.0.4"
    )
    assert detect_text(engine, text) == []


def test_repeated_signature_needs_its_min_count(engine: DetectionEngine) -> None:
    line = ("{} INFO [communication thread] org.apache.hadoop.ipc.Client: Retrying connect to server: "
            "worker5.example.com/10.0.0.5:52839. Already tried {} time(s); maxRetries=45")
    found = [kinds(detect_text(engine, line.format(stamp(20 * i), i), log_type="container")) for i in range(4)]
    assert found == [[], [], ["node_lost"], ["node_lost"]]


def test_repeats_outside_window_do_not_count(engine: DetectionEngine) -> None:
    line = ("{} INFO [communication thread] org.apache.hadoop.ipc.Client: Retrying connect to server: "
            "worker5.example.com/10.0.0.5:52839. Already tried 0 time(s); maxRetries=45")
    found = [kinds(detect_text(engine, line.format(stamp(400 * i)))) for i in range(3)]
    assert found == [[], [], []]


def test_repeats_count_per_source(engine: DetectionEngine) -> None:
    line = ("{} INFO [communication thread] org.apache.hadoop.ipc.Client: Retrying connect to server: "
            "worker5.example.com/10.0.0.5:52839. Already tried 0 time(s); maxRetries=45")
    found = [kinds(detect_text(engine, line.format(stamp(i)), source=f"file{i}")) for i in range(3)]
    assert found == [[], [], []]


def test_unresolved_namenode_reports_both_kinds(engine: DetectionEngine) -> None:
    text = (f"{stamp(0)} WARN org.apache.hadoop.hdfs.server.datanode.DataNode: Problem connecting to server: "
            "Master:9000")
    assert kinds(detect_text(engine, text)) == ["host_resolution_failure", "namenode_unreachable"]


def test_refused_connection_classified_by_port(engine: DetectionEngine) -> None:
    base = ("{} INFO org.apache.hadoop.ipc.Client: Retrying connect to server: master/10.0.0.1:{}. Already tried "
            "{} time(s); retry policy is RetryUpToMaximumCountWithFixedSleep(maxRetries=10, sleepTime=1000 "
            "MILLISECONDS)")
    namenode = [kinds(detect_text(engine, base.format(stamp(i), 8020, i), source="a")) for i in range(2)]
    resourcemanager = [kinds(detect_text(engine, base.format(stamp(i), 8031, i), source="b")) for i in range(2)]
    assert namenode[-1] == ["namenode_unreachable"]
    assert resourcemanager[-1] == ["resourcemanager_unreachable"]


def test_unknown_error_gets_stable_template(engine: DetectionEngine) -> None:
    first = detect_text(engine, f"{stamp(0)} ERROR org.example.Widget: Widget 17 failed to frobnicate 3 items")
    second = detect_text(engine, f"{stamp(1)} ERROR org.example.Widget: Widget 42 failed to frobnicate 9 items")
    assert kinds(first) == ["unknown_error"]
    assert first[0].template_id is not None
    assert first[0].template_id == second[0].template_id


def test_warn_without_signature_is_not_reported(engine: DetectionEngine) -> None:
    assert detect_text(engine, f"{stamp(0)} WARN org.example.Widget: Widget 17 is a bit slow") == []


def test_detection_fields(engine: DetectionEngine) -> None:
    text = f"{stamp(0)} FATAL [main] org.apache.hadoop.mapred.YarnChild: Error running child : " \
           "java.lang.OutOfMemoryError: Java heap space"
    (detection,) = detect_text(engine, text, log_type="container")
    assert detection.severity == "critical"
    assert detection.title_zh == "JVM 内存耗尽"
    assert detection.title_en == "JVM out of memory"
    assert (detection.cluster, detection.node, detection.log_type) == ("c1", "n1", "container")
    assert detection.at == START
    assert detection.record is not None
    assert detection.record.first_line == 1
    assert "OutOfMemoryError" in detection.evidence_text


def test_continuation_without_header_uses_source_clock(engine: DetectionEngine) -> None:
    source = "stream-7"
    header = LogHeader(START, "INFO", "org.example.A", None, "hello")
    engine.process(LogRecord(header, "hello", 1, 1, source), cluster="c1", node="n1", log_type="datanode")
    orphan = LogRecord(None, "java.io.IOException: No space left on device", 2, 2, source)
    (detection,) = engine.process(orphan, cluster="c1", node="n1", log_type="datanode")
    assert detection.kind == "disk_full"
    assert detection.at == START


def test_evidence_of_keeps_causes_and_drops_frames() -> None:
    lines = ["HEADER"] + [f"\tat frame{i}" for i in range(30)] + ["Caused by: java.io.IOException: root cause"]
    evidence = evidence_of("\n".join(lines))
    assert evidence.splitlines() == ["HEADER", "Caused by: java.io.IOException: root cause"]


def test_template_state_round_trip(catalog: Catalog) -> None:
    engine = DetectionEngine(catalog)
    before = detect_text(engine, f"{stamp(0)} ERROR org.example.Widget: Widget 17 failed to frobnicate 3 items")
    restored = DetectionEngine(catalog, template_state=engine.template_state())
    after = detect_text(restored, f"{stamp(1)} ERROR org.example.Widget: Widget 99 failed to frobnicate 1 items")
    assert after[0].template_id == before[0].template_id
    assert restored.template_state() != b""


def test_template_miner_round_trip_keeps_templates() -> None:
    miner = TemplateMiner()
    for message in ["Got exception while serving blk_1 to /10.0.0.1:", "Got exception while serving blk_2 to "
                    "/10.0.0.2:", "Receiving block blk_3 src: /10.0.0.3:50010 dest: /10.0.0.4:50010"]:
        miner.add(message)
    restored = TemplateMiner.from_bytes(miner.to_bytes())
    assert [t.text for t in restored.templates()] == [t.text for t in miner.templates()]
    assert [t.size for t in restored.templates()] == [2, 1]
    assert restored.match("Got exception while serving blk_77 to /10.9.9.9:") == 1


@pytest.mark.parametrize("data", [b"not json", b'{"version": 99}', b"\xff\xfe"])
def test_template_miner_rejects_bad_state(data: bytes) -> None:
    with pytest.raises(ValueError, match="template state"):
        TemplateMiner.from_bytes(data)


def test_burst_detector_reports_jump_over_baseline() -> None:
    detector = BurstDetector(min_count=10, factor=4.0)
    key = ("c1", "n1")
    quiet = [detector.observe(key, START + timedelta(minutes=m, seconds=s)) for m in range(10) for s in (1, 2)]
    burst = [detector.observe(key, START + timedelta(minutes=10, seconds=s * 0.5)) for s in range(12)]
    assert all(event is None for event in quiet)
    reported = [event for event in burst if event is not None]
    assert len(reported) == 1
    assert reported[0].count == 10


def test_burst_detector_needs_factor_over_busy_baseline() -> None:
    detector = BurstDetector(min_count=5, factor=4.0, smoothing=0.5)
    key = ("c1", "n1")
    steady = [detector.observe(key, START + timedelta(minutes=m, seconds=s)) for m in range(10) for s in range(20)]
    assert [event for event in steady[20:] if event is not None] == []


def test_engine_reports_error_burst(catalog: Catalog) -> None:
    engine = DetectionEngine(catalog, bursts=BurstDetector(min_count=5))
    text = "\n".join(f"{stamp(i)} WARN org.example.Widget: Widget {i} is a bit slow" for i in range(6))
    assert kinds(detect_text(engine, text)) == ["error_burst"]


def test_threshold_monitor_reports_sustained_pressure_once() -> None:
    monitor = ThresholdMonitor(mem_pct=90.0, window=timedelta(minutes=5))
    samples = [monitor.feed_metric("c1", "n1", 10.0, 95.0, 50.0, START + timedelta(minutes=m)) for m in range(8)]
    found = [pressure for batch in samples for pressure in batch]
    assert [(p.resource, p.since) for p in found] == [("memory", START)]
    assert found[0].at == START + timedelta(minutes=5)


def test_threshold_monitor_resets_after_drop() -> None:
    monitor = ThresholdMonitor(cpu_pct=90.0, window=timedelta(minutes=2))
    values = [95, 95, 95, 50, 95, 95, 95]
    found = [p for m, v in enumerate(values) for p in monitor.feed_metric("c1", "n1", v, None, None,
                                                                         START + timedelta(minutes=m))]
    assert [p.at for p in found] == [START + timedelta(minutes=2), START + timedelta(minutes=6)]


def test_threshold_monitor_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ThresholdMonitor().feed_metric("c1", "n1", 1.0, 1.0, 1.0, datetime(2019, 1, 1))


def test_engine_process_metric(engine: DetectionEngine) -> None:
    found = []
    for minute in range(6):
        found += engine.process_metric(cluster="c1", node="dn3", cpu_pct=None, mem_pct=None, disk_pct=97.5,
                                       at=START + timedelta(minutes=minute))
    assert kinds(found) == ["resource_pressure"]
    assert found[0].record is None
    assert "disk usage 97.5%" in found[0].evidence_text


def test_engine_memory_is_bounded(catalog: Catalog) -> None:
    engine = DetectionEngine(catalog, max_sources=8)
    for index in range(100):
        detect_text(engine, f"{stamp(index)} WARN org.example.A: hello", source=f"s{index}")
    assert len(engine._context) == 8
