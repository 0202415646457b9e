"""Saving and restoring the engine's windows: a restored engine detects like one that never stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.common.catalog import Catalog
from libs.common.logformat import LogHeader, LogRecord, iter_records
from services.faults.detection.bursts import BurstDetector
from services.faults.detection.engine import Detection, DetectionEngine
from services.faults.detection.thresholds import ThresholdMonitor
from services.faults.detection.timecodec import decode_time, encode_time

START = datetime(2019, 5, 6, 10, 0, 0, tzinfo=UTC)
RETRY_NAMENODE = ("{} INFO org.apache.hadoop.ipc.Client: Retrying connect to server: nn1.example.com/10.0.0.1:8020. "
                  "Already tried {} time(s); maxRetries=45")

Step = Callable[[DetectionEngine], list[Detection]]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}"


def line_step(text: str, source: str = "nn-client.log") -> Step:
    """Return a step that feeds the records of ``text`` to an engine."""
    def feed(engine: DetectionEngine) -> list[Detection]:
        found = []
        for record in iter_records(text.splitlines(), source):
            found += engine.process(record, cluster="c1", node="n1", log_type="datanode")
        return found
    return feed


def metric_step(disk_pct: float, at: datetime) -> Step:
    def feed(engine: DetectionEngine) -> list[Detection]:
        return engine.process_metric(cluster="c1", node="n1", cpu_pct=None, mem_pct=None, disk_pct=disk_pct, at=at)
    return feed


def outcome(detections: list[Detection]) -> list[tuple]:
    """Return what a detection contributes to an incident: kind, time, evidence and template."""
    return [(d.kind, d.at, d.at.isoformat() if d.at else None, d.evidence_text, d.template_id) for d in detections]


EngineMaker = Callable[[bytes | None], DetectionEngine]


def run_split(make_engine: EngineMaker, steps: list[Step], split: int) -> dict[str, list[tuple]]:
    """Feed ``steps`` to an engine that never stops, to one restored after ``steps[:split]`` and to a fresh one.

    The restored engine gets the templates and the windows, as the faults service restores both.
    Return the detections of ``steps[split:]`` of each engine.
    """
    uninterrupted = make_engine(None)
    for step in steps[:split]:
        step(uninterrupted)
    restored = make_engine(uninterrupted.template_state())
    restored.restore_windows(uninterrupted.window_state())
    fresh = make_engine(None)

    results: dict[str, list[tuple]] = {"uninterrupted": [], "restored": [], "fresh": []}
    for step in steps[split:]:
        results["uninterrupted"] += outcome(step(uninterrupted))
        results["restored"] += outcome(step(restored))
        results["fresh"] += outcome(step(fresh))
    return results


def engine_factory(catalog: Catalog, **components: Callable[[], object]) -> EngineMaker:
    """Return a maker of engines with new ``components`` (``bursts``, ``thresholds``) of the given settings."""
    def make(template_state: bytes | None) -> DetectionEngine:
        built = {name: factory() for name, factory in components.items()}
        return DetectionEngine(catalog, template_state=template_state, **built)  # type: ignore[arg-type]
    return make


def test_restore_keeps_repetition_window(catalog: Catalog) -> None:
    moments = [START + timedelta(seconds=30 * i) for i in range(6)]
    steps = [line_step(RETRY_NAMENODE.format(stamp(moment), i)) for i, moment in enumerate(moments)]

    results = run_split(engine_factory(catalog), steps, split=1)

    assert [item[0] for item in results["uninterrupted"]] == ["namenode_unreachable"] * 5
    assert results["restored"] == results["uninterrupted"]
    assert len(results["fresh"]) == 4


def test_restore_keeps_burst_baseline(catalog: Catalog) -> None:
    warn = "{} WARN org.example.Widget: Widget {} is a bit slow"
    quiet = [START + timedelta(minutes=minute, seconds=second) for minute in range(10) for second in (1, 2, 3, 4)]
    busy = [START + timedelta(minutes=10, seconds=second) for second in range(20)]
    steps = [line_step(warn.format(stamp(moment), i)) for i, moment in enumerate(quiet + busy)]
    make = engine_factory(catalog, bursts=lambda: BurstDetector(min_count=5, factor=5.0))

    results = run_split(make, steps, split=len(quiet) + 3)

    assert [item[0] for item in results["uninterrupted"]] == ["error_burst"]
    assert results["restored"] == results["uninterrupted"]
    assert results["fresh"] != results["uninterrupted"]


def test_restore_keeps_reported_burst(catalog: Catalog) -> None:
    warn = "{} WARN org.example.Widget: Widget {} is a bit slow"
    busy = [START + timedelta(seconds=second) for second in range(12)]
    steps = [line_step(warn.format(stamp(moment), i)) for i, moment in enumerate(busy)]
    make = engine_factory(catalog, bursts=lambda: BurstDetector(min_count=5))

    results = run_split(make, steps, split=6)

    assert results["uninterrupted"] == []
    assert results["restored"] == []
    assert [item[0] for item in results["fresh"]] == ["error_burst"]


def test_restore_keeps_threshold_window(catalog: Catalog) -> None:
    # A fixed +08:00 offset checks that the evidence text, which prints the window start, is unchanged.
    zone = timezone(timedelta(hours=8))
    steps = [metric_step(97.5, (START + timedelta(minutes=minute)).astimezone(zone)) for minute in range(9)]
    make = engine_factory(catalog, thresholds=lambda: ThresholdMonitor(disk_pct=90.0, window=timedelta(minutes=5)))

    results = run_split(make, steps, split=3)

    assert [item[0] for item in results["uninterrupted"]] == ["resource_pressure"]
    assert "since 2019-05-06T18:00:00+08:00" in results["uninterrupted"][0][3]
    assert results["restored"] == results["uninterrupted"]
    assert results["fresh"] != results["uninterrupted"]


def test_restore_keeps_cross_record_context(catalog: Catalog) -> None:
    disk_full = ("{} FATAL [IPC Server handler 1 on 39673] org.apache.hadoop.mapred.TaskAttemptListenerImpl: Task: "
                 "attempt_1_0004_m_000004_0 - exited : java.io.IOException: There is not enough space on the disk")
    spill = ("{} FATAL [IPC Server handler 8 on 39673] org.apache.hadoop.mapred.TaskAttemptListenerImpl: Task: "
             "attempt_1_0004_m_000004_0 - exited : java.io.IOException: Spill failed")
    steps = [line_step(disk_full.format(stamp(START))), line_step(spill.format(stamp(START + timedelta(seconds=5))))]

    results = run_split(engine_factory(catalog), steps, split=1)

    assert [item[0] for item in results["uninterrupted"]] == ["disk_full"]
    assert results["restored"] == results["uninterrupted"]
    assert [item[0] for item in results["fresh"]] == ["task_failure"]


def test_restore_keeps_source_clock(catalog: Catalog) -> None:
    """A record without a timestamp takes its source's last time, also the wall-clock fallback."""
    def header_record(engine: DetectionEngine) -> list[Detection]:
        header = LogHeader(START, "INFO", "org.example.A", None, "hello")
        return engine.process(LogRecord(header, "hello", 1, 1, "s1"), cluster="c1", node="n1", log_type="datanode")

    def orphan(source: str) -> Step:
        def feed(engine: DetectionEngine) -> list[Detection]:
            record = LogRecord(None, "java.io.IOException: No space left on device", 2, 2, source)
            return engine.process(record, cluster="c1", node="n1", log_type="datanode")
        return feed

    # Source s2 starts without any timestamp, so its clock is the wall-clock time of its first record.
    steps = [header_record, orphan("s2"), orphan("s1"), orphan("s2")]

    results = run_split(engine_factory(catalog), steps, split=2)

    assert results["uninterrupted"][0][1] == START
    assert len(results["uninterrupted"]) == 2
    assert results["restored"] == results["uninterrupted"]


def test_window_state_is_versioned_json(catalog: Catalog) -> None:
    engine = DetectionEngine(catalog)
    line_step(RETRY_NAMENODE.format(stamp(START), 0))(engine)

    state = json.loads(engine.window_state())

    assert state["version"] == 1
    assert sorted(state) == ["bursts", "context", "thresholds", "version"]
    assert state["context"]["sources"][0][:3] == ["c1", "n1", "nn-client.log"]


def test_restore_drops_unknown_pattern(catalog: Catalog) -> None:
    engine = DetectionEngine(catalog)
    line_step(RETRY_NAMENODE.format(stamp(START), 0))(engine)
    state = json.loads(engine.window_state())
    repeats = state["context"]["sources"][0][6]
    state["context"]["sources"][0][6] = {"gone_kind:" + key.split(":", 1)[1]: times for key, times in repeats.items()}

    restored = DetectionEngine(catalog)
    restored.restore_windows(json.dumps(state).encode())
    second = line_step(RETRY_NAMENODE.format(stamp(START + timedelta(seconds=30)), 1))(restored)

    assert repeats
    assert second == []


@pytest.mark.parametrize("data", [
    b"not json",
    b"\xff\xfe",
    b'{"version": 99}',
    b"[1, 2]",
    b'{"version": 1, "context": {"sources": [["c1"]], "nodes": []}, "bursts": [], "thresholds": []}',
    b'{"version": 1, "context": {"sources": [], "nodes": []}, "bursts": [], "thresholds": [["c1", "n1", "gpu", null, '
    b'false]]}',
    b'{"version": 1, "context": {"sources": [], "nodes": []}, "bursts": [["c1", "n1", "x", 1, 0.5, false]], '
    b'"thresholds": []}',
])
def test_restore_rejects_bad_state(catalog: Catalog, data: bytes) -> None:
    engine = DetectionEngine(catalog)
    for minute in range(3):
        engine.process_metric(cluster="c1", node="n1", cpu_pct=99.0, mem_pct=None, disk_pct=None,
                              at=START + timedelta(minutes=minute))
    line_step(RETRY_NAMENODE.format(stamp(START), 0))(engine)

    with pytest.raises(ValueError, match="window state is invalid"):
        engine.restore_windows(data)

    assert engine.window_state() == DetectionEngine(catalog).window_state()


@pytest.mark.parametrize("moment", [
    START,
    START.replace(microsecond=123456),
    START.astimezone(timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2019, 5, 6, 10, 0, 0),
    datetime(1965, 1, 1, tzinfo=UTC),
])
def test_time_codec_round_trip(moment: datetime) -> None:
    decoded = decode_time(json.loads(json.dumps(encode_time(moment))))

    assert decoded == moment
    assert decoded.isoformat() == moment.isoformat()


def test_window_state_follows_each_change(catalog: Catalog) -> None:
    engine = DetectionEngine(catalog)
    line_step(RETRY_NAMENODE.format(stamp(START), 0), source="a.log")(engine)
    line_step(RETRY_NAMENODE.format(stamp(START), 0), source="b.log")(engine)
    first = json.loads(engine.window_state())
    line_step(RETRY_NAMENODE.format(stamp(START + timedelta(seconds=30)), 1), source="b.log")(engine)
    second = json.loads(engine.window_state())

    rows = {row[2]: row for row in second["context"]["sources"]}
    assert rows["a.log"] == first["context"]["sources"][0]
    assert rows["b.log"][3] == encode_time(START + timedelta(seconds=30))
    assert sorted(len(times) for times in rows["b.log"][6].values()) == [2, 2]
