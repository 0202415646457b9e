"""Incident life cycle in a running faults service: quiet-period resolution, reopening, node status, metrics."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from libs.common.events import MetricSample, NodeStatusEvent
from libs.common.timeutil import utcnow
from tests.conftest import start_stack
from tests.faults_service.helpers import (
    DISK_FULL,
    SERVICE_ENV,
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

QUIET_SECONDS = 3.0
GRACE_SECONDS = 6.0


@pytest.fixture(scope="module")
def stack(infra):
    running = start_stack(
        infra,
        "faults",
        HFD_FAULTS_QUIET_MINUTES=str(QUIET_SECONDS / 60),
        HFD_FAULTS_REOPEN_GRACE_MINUTES=str(GRACE_SECONDS / 60),
        HFD_FAULTS_MAINTENANCE_SECONDS="0.5",
        HFD_FAULTS_UPDATE_THROTTLE_SECONDS="0",
        **SERVICE_ENV,
    )
    yield running
    running.stop()


async def _only_incident(nc, names, cluster, status=None):
    items = await incidents_of(nc, names, cluster)
    if len(items) != 1 or (status and items[0]["status"] != status):
        return None
    return items[0]


async def test_lifecycle_quiet_period_resolves(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    events = await collect_events(nc, names, cluster)
    await publish(nc, names, *LogFile(cluster, "q1").batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))
    opened = await wait_until(lambda: _only_incident(nc, names, cluster, "active"))
    resolved = await wait_until(lambda: _only_incident(nc, names, cluster, "resolved"), timeout=QUIET_SECONDS + 10)
    await asyncio.sleep(0.5)
    await nc.close()

    assert resolved["id"] == opened["id"]
    assert resolved["history"][-1]["reason"] == "quiet_period"
    assert resolved["history"][-1]["by"] == "system"
    assert [event["event"] for _msg_id, event in events] == ["detected", "resolved"]
    assert events[-1][1]["status"] == "resolved"


async def test_lifecycle_reopens_within_grace(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "q2")
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))
    first = await wait_until(lambda: _only_incident(nc, names, cluster, "resolved"), timeout=QUIET_SECONDS + 10)
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(1), "ERROR", DISK_FULL)]))
    reopened = await wait_until(lambda: _only_incident(nc, names, cluster, "active"))
    await nc.close()

    assert reopened["id"] == first["id"]
    assert reopened["count"] == 2
    assert [entry["reason"] for entry in reopened["history"]] == ["detected", "quiet_period", "reopened"]
    assert reopened["resolved_at"] is None


async def test_lifecycle_new_incident_after_grace(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    log = LogFile(cluster, "q3")
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))
    first = await wait_until(lambda: _only_incident(nc, names, cluster, "resolved"), timeout=QUIET_SECONDS + 10)
    await asyncio.sleep(GRACE_SECONDS + 1)
    await publish(nc, names, *log.batch([hadoop_line(spaced_time(1), "ERROR", DISK_FULL)]))

    async def two_incidents():
        items = await incidents_of(nc, names, cluster)
        return items if len(items) == 2 else None
    items = await wait_until(two_incidents)
    since = await call(nc, names, "incidents.since", body={"incident_id": first["id"], "since": first["updated"]})
    await nc.close()

    newer = next(item for item in items if item["id"] != first["id"])
    assert newer["status"] == "active"
    assert newer["count"] == 1
    assert since.body["new_occurrences"] is True
    assert since.body["newer_incident_id"] == newer["id"]


async def test_lifecycle_node_status_opens_and_resolves(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    subject = names.subject(f"metrics.{cluster}.w1.status")
    js = nc.jetstream()
    for attempt in range(3):
        down = NodeStatusEvent(cluster=cluster, node="w1", reachable=False, error=f"connect timed out #{attempt}")
        await js.publish(subject, down.model_dump_json().encode())
    opened = await wait_until(lambda: _status_count(nc, names, cluster, 3))
    await asyncio.sleep(QUIET_SECONDS + 1.5)
    still_open = await _only_incident(nc, names, cluster)
    up = NodeStatusEvent(cluster=cluster, node="w1", reachable=True)
    await js.publish(subject, up.model_dump_json().encode())
    resolved = await wait_until(lambda: _only_incident(nc, names, cluster, "resolved"))
    await nc.close()

    assert opened["type"] == "node_unreachable"
    assert opened["evidence"][-1] == "connect timed out #2"
    assert still_open["status"] == "active"
    assert resolved["history"][-1]["reason"] == "node_reachable"


async def _status_count(nc, names, cluster, count):
    item = await _only_incident(nc, names, cluster)
    return item if item and item["count"] == count else None


async def test_lifecycle_metric_pressure(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    start = utcnow() - timedelta(minutes=10)
    js = nc.jetstream()
    for minute in (0, 3, 6):
        sample = MetricSample(
            cluster=cluster, node="m1", sampled_at=start + timedelta(minutes=minute),
            cpu_percent=97.0, memory_percent=30.0, disk_percent=40.0,
        )
        await js.publish(names.metrics(cluster, "m1"), sample.model_dump_json().encode())
    item = await wait_until(lambda: _only_incident(nc, names, cluster))
    await nc.close()

    assert item["type"] == "resource_pressure"
    assert "cpu usage 97.0%" in item["evidence"][0]


async def test_lifecycle_internal_operations(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    await publish(nc, names, *LogFile(cluster, "i1").batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))
    item = await wait_until(lambda: _only_incident(nc, names, cluster))
    record = await call(nc, names, "incidents.get", principal=None, body={"incident_id": item["id"]})
    listed = await call(nc, names, "incidents.list", principal=None, body={"cluster": cluster, "state": "open"})
    before = await call(nc, names, "incidents.since", principal=None,
                        body={"incident_id": item["id"], "since": utcnow().isoformat()})
    missing = await call(nc, names, "incidents.get", principal=None, body={"incident_id": "no-such-incident"})
    await nc.close()

    assert record.status == 200
    assert record.body["kind"] == "disk_full"
    assert record.body["description_en"]
    assert record.body["evidence"][0]["file"].endswith("datanode.log")
    assert [entry["incident_id"] for entry in listed.body["incidents"]] == [item["id"]]
    assert before.body["new_occurrences"] is False
    assert missing.status == 404


async def test_lifecycle_manual_reopen_restarts_quiet_period(stack, infra):
    nc, names = await connect(infra)
    cluster = str(uuid.uuid4())
    await publish(nc, names, *LogFile(cluster, "q4").batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))
    first = await wait_until(lambda: _only_incident(nc, names, cluster, "resolved"), timeout=QUIET_SECONDS + 10)
    reply = await call(nc, names, "faults.update", params={"fid": first["id"]}, body={"status": "active"})
    await asyncio.sleep(QUIET_SECONDS / 2)
    halfway = await _only_incident(nc, names, cluster)
    again = await wait_until(lambda: _only_incident(nc, names, cluster, "resolved"), timeout=QUIET_SECONDS + 10)
    await nc.close()

    assert reply.status == 200
    assert halfway["status"] == "active"
    assert [entry["reason"] for entry in again["history"]] == ["detected", "quiet_period", "manual", "quiet_period"]
    assert again["count"] == 1
