"""LOGS records in, incidents, FaultEvents and stored log records out, through a running faults service."""

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest

from libs.common.catalog import load_catalog
from libs.common.logformat import iter_records, log_type_from_filename
from services.faults.detection.engine import DetectionEngine
from tests.conftest import start_stack
from tests.faults_service.helpers import (
    DISK_FULL,
    OUT_OF_MEMORY,
    SERVICE_ENV,
    UNKNOWN_A,
    LogFile,
    call,
    collect_events,
    connect,
    hadoop_line,
    incidents_of,
    publish,
    spaced_time,
    wait_until,
)

REAL_FILES = ("hadoop281-datanode-connection-refused.log", "hadoop265-namenode-zero-datanodes.log")
RECORDS_PER_BATCH = 50


@pytest.fixture(scope="module")
def stack(infra):
    running = start_stack(infra, "faults", HFD_FAULTS_UPDATE_THROTTLE_SECONDS="0", **SERVICE_ENV)
    yield running
    running.stop()


async def test_stream_detected_then_updated_events(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    events = await collect_events(nc, names, cluster)
    log = LogFile(cluster, "dn1")
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))
    await wait_until(lambda: _has_events(events, 1))
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(i), "ERROR", DISK_FULL) for i in (1, 2)]))
    await wait_until(lambda: _has_events(events, 2))
    await nc.close()

    (first_id, first), (second_id, second) = events[:2]
    incident = first["incident_id"]
    assert first["event"] == "detected"
    assert first["kind"] == "disk_full"
    assert first["count"] == 1
    assert second["event"] == "updated"
    assert second["incident_id"] == incident
    assert second["count"] == 3
    assert first_id == f"{incident}:1"
    assert second_id == f"{incident}:2"


async def _has_events(events, size):
    return len(events) >= size


async def test_stream_incident_fields(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "dn2")
    lines = [
        hadoop_line(spaced_time(0), "FATAL", OUT_OF_MEMORY),
        hadoop_line(spaced_time(1), "WARN", "Slow BlockReceiver write packet to mirror took 900ms"),
        hadoop_line(spaced_time(2), "INFO", "Receiving block blk_1 src: /10.0.0.2:5000"),
        hadoop_line(spaced_time(3), "ERROR", UNKNOWN_A.format(n=3)) + "\n\tat org.example.Volume.run(Volume.java:42)",
    ]
    await publish(nc, names, *log.batch(lines))
    items = await wait_until(lambda: _incidents_with(nc, names, cluster, 2))
    logs = await call(nc, names, "logs.list", params={"cluster": cluster, "size": 10})
    await nc.close()

    by_kind = {item["type"]: item for item in items}
    assert set(by_kind) == {"out_of_memory", "unknown_error"}
    oom = by_kind["out_of_memory"]
    assert oom["status"] == "active"
    assert oom["level"] == "critical"
    assert oom["node"] == "dn2"
    assert oom["count"] == 1
    assert oom["first_seen"].startswith("2017-06-09T20:00:00")
    assert "OutOfMemoryError" in oom["evidence"][0]
    assert oom["history"][0]["reason"] == "detected"
    assert by_kind["unknown_error"]["title_en"].startswith("Unclassified error: Replica handover")

    assert logs.body["total"] == 3
    levels = [item["level"] for item in logs.body["items"]]
    assert levels == ["ERROR", "WARN", "FATAL"]
    assert logs.body["items"][0]["info"].endswith("at org.example.Volume.run(Volume.java:42)")
    assert logs.body["items"][0]["title"] == "DataNode"


async def _incidents_with(nc, names, cluster, size):
    items = await incidents_of(nc, names, cluster)
    return items if len(items) >= size else None


async def test_stream_deduplicates_by_fingerprint(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    first_node, second_node = LogFile(cluster, "dn3"), LogFile(cluster, "dn4")
    for index in range(3):
        await publish(nc, names, *first_node.batch([hadoop_line(spaced_time(index), "ERROR", DISK_FULL)]))
    await publish(nc, names, *second_node.batch([hadoop_line(spaced_time(9), "ERROR", DISK_FULL)]))
    items = await wait_until(lambda: _counted(nc, names, cluster, 4))
    await nc.close()

    counts = {item["node"]: item["count"] for item in items}
    assert counts == {"dn3": 3, "dn4": 1}


async def _counted(nc, names, cluster, total):
    items = await incidents_of(nc, names, cluster)
    return items if sum(item["count"] for item in items) >= total else None


async def test_stream_evidence_is_bounded(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "dn5")
    long_tail = " x" * 3000
    lines = [hadoop_line(spaced_time(i), "ERROR", f"{DISK_FULL} #{i}{long_tail}") for i in range(40)]
    for start in range(0, 40, 10):
        await publish(nc, names, *log.batch(lines[start:start + 10]))
    items = await wait_until(lambda: _counted(nc, names, cluster, 40))
    detail = await call(nc, names, "faults.get", params={"fid": items[0]["id"]})
    await nc.close()

    records = detail.body["evidence_records"]
    assert len(records) == 10
    assert "#0 " in records[0]["text"]
    assert "#39 " in records[-1]["text"]
    assert max(len(record["text"]) for record in records) <= 2000
    assert records[0]["offset"] == 0


async def test_stream_survives_bad_input(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    js = nc.jetstream()
    await js.publish(names.logs(cluster, "bad", "datanode"), b"{not json")
    overlong, msg_id = LogFile(cluster, "n" * 300).batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)])
    await js.publish(names.logs(cluster, "long", "datanode"), overlong.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": msg_id})
    log = LogFile(cluster, "dn6")
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(1), "ERROR", DISK_FULL + "\x00\x00 tail")]))
    items = await wait_until(lambda: _incidents_with(nc, names, cluster, 1))
    await nc.close()

    assert [(item["node"], item["count"]) for item in items] == [("dn6", 1)]
    assert "\x00" not in items[0]["evidence"][0]
    assert items[0]["evidence"][0].endswith("tail")


@pytest.mark.realdata
async def test_stream_real_logs_match_offline_engine(stack, infra, real_data):
    folder = real_data / "daemon-logs"
    files = [folder / name for name in REAL_FILES if (folder / name).is_file()]
    if not files:
        pytest.skip(f"none of {REAL_FILES} under {folder}")
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    expected = Counter()
    for number, path in enumerate(files):
        node = f"real{number}"
        expected.update(_offline_kinds(path, cluster, node))
        await _publish_file(nc, names, cluster, node, path)

    total = sum(expected.values())
    items = await wait_until(lambda: _counted(nc, names, cluster, total), timeout=60)
    await asyncio.sleep(1.0)
    items = await incidents_of(nc, names, cluster)
    await nc.close()

    found = Counter()
    for item in items:
        found[item["type"]] += item["count"]
    assert found == expected
    assert expected, "the real logs produced no detection offline"


def _offline_kinds(path: Path, cluster: str, node: str) -> Counter:
    """Count detections per kind as ``hfd analyze`` finds them: one engine, the file read in order."""
    engine = DetectionEngine(load_catalog())
    counts = Counter()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for record in iter_records(handle, str(path)):
            for detection in engine.process(record, cluster=cluster, node=node, log_type="x"):
                counts[detection.kind] += 1
    return counts


async def _publish_file(nc, names, cluster: str, node: str, path: Path) -> None:
    log = LogFile(cluster, node, path=str(path), log_type=log_type_from_filename(path.name))
    with path.open(encoding="utf-8", errors="replace") as handle:
        records = [record.text for record in iter_records(handle, str(path))]
    for start in range(0, len(records), RECORDS_PER_BATCH):
        await publish(nc, names, *log.batch(records[start:start + RECORDS_PER_BATCH]))
