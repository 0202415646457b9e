"""The internal ``incidents.resolve`` in a running faults service, as the AI service calls it after a repair."""

import asyncio
import uuid
from datetime import timedelta

import pytest

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


@pytest.fixture(scope="module")
def stack(infra):
    running = start_stack(infra, "faults", HFD_FAULTS_UPDATE_THROTTLE_SECONDS="0", **SERVICE_ENV)
    yield running
    running.stop()


async def _open_incident(nc, names, node: str) -> tuple[str, dict, list]:
    """Publish one disk-full record on a new cluster; return the cluster, its active incident and its events."""
    cluster = str(uuid.uuid4())
    events = await collect_events(nc, names, cluster)
    await publish(nc, names, *LogFile(cluster, node).batch([hadoop_line(spaced_time(0), "ERROR", DISK_FULL)]))

    async def active():
        items = await incidents_of(nc, names, cluster, status="active")
        return items[0] if items else None

    incident = await wait_until(active)
    await wait_until(lambda: _has_event(events, "detected"))
    return cluster, incident, events


async def _has_event(events: list, name: str) -> bool:
    return any(event["event"] == name for _msg_id, event in events)


async def test_system_resolve_records_ai_actor(stack, infra):
    nc, names = await connect(infra)
    cluster, incident, events = await _open_incident(nc, names, "r1")
    body = {"incident_id": incident["id"], "reason": "repair_succeeded", "since": utcnow().isoformat()}
    reply = await call(nc, names, "incidents.resolve", principal=None, body=body)
    await wait_until(lambda: _has_event(events, "resolved"))
    stored = (await incidents_of(nc, names, cluster))[0]
    await nc.close()

    assert reply.status == 200, reply.body
    assert reply.body == {"incident_id": incident["id"], "status": "resolved", "changed": True}
    assert stored["status"] == "resolved"
    assert stored["resolved_at"] is not None
    assert stored["history"][-1]["from"] == "active"
    assert stored["history"][-1]["to"] == "resolved"
    assert stored["history"][-1]["by"] == "hfd-ai"
    assert stored["history"][-1]["reason"] == "repair_succeeded"
    assert [event["event"] for _msg_id, event in events] == ["detected", "resolved"]
    assert events[-1][1]["status"] == "resolved"


async def test_system_resolve_twice_changes_nothing(stack, infra):
    nc, names = await connect(infra)
    cluster, incident, events = await _open_incident(nc, names, "r2")
    body = {"incident_id": incident["id"]}
    first = await call(nc, names, "incidents.resolve", principal=None, body=body)
    second = await call(nc, names, "incidents.resolve", principal=None, body=body)
    await wait_until(lambda: _has_event(events, "resolved"))
    await asyncio.sleep(1.0)
    stored = (await incidents_of(nc, names, cluster))[0]
    await nc.close()

    assert first.body["changed"] is True
    assert second.status == 200
    assert second.body["changed"] is False
    assert second.body["status"] == "resolved"
    assert [entry["to"] for entry in stored["history"]] == ["active", "resolved"]
    assert [event["event"] for _msg_id, event in events] == ["detected", "resolved"]


async def test_system_resolve_keeps_recurring_fault_open(stack, infra):
    nc, names = await connect(infra)
    cluster, incident, events = await _open_incident(nc, names, "r3")
    before_last_occurrence = (utcnow() - timedelta(hours=1)).isoformat()
    reply = await call(nc, names, "incidents.resolve", principal=None,
                       body={"incident_id": incident["id"], "since": before_last_occurrence})
    await asyncio.sleep(1.0)
    stored = (await incidents_of(nc, names, cluster))[0]
    await nc.close()

    assert reply.status == 409
    assert reply.body == {"detail": "new_occurrences"}
    assert stored["status"] == "active"
    assert len(stored["history"]) == 1
    assert [event["event"] for _msg_id, event in events] == ["detected"]


async def test_system_resolve_unknown_incident(stack, infra):
    nc, names = await connect(infra)
    reply = await call(nc, names, "incidents.resolve", principal=None, body={"incident_id": str(uuid.uuid4())})
    await nc.close()

    assert reply.status == 404
    assert reply.body == {"detail": "not_found"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "incident_id"),
        ({"incident_id": "bad id\x00"}, "incident_id"),
        ({"incident_id": "x1", "reason": "Fixed by hand!"}, "reason"),
        ({"incident_id": "x1", "since": "yesterday"}, "since"),
    ],
)
async def test_system_resolve_rejects_invalid_body(stack, infra, body, field):
    nc, names = await connect(infra)
    reply = await call(nc, names, "incidents.resolve", principal=None, body=body, lang="en")
    await nc.close()

    assert reply.status == 422
    assert [error["field"] for error in reply.body["detail"]["errors"]] == [field]
    assert reply.body["detail"]["errors"][0]["message"].isascii()
