"""The incident state machine and the LOGS handler in this process, against the session's PostgreSQL and NATS."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from libs.common.bus import ensure_streams
from libs.common.catalog import load_catalog
from libs.common.db import Database, migrate
from libs.common.names import Names
from libs.common.timeutil import utcnow
from services.faults import incidents, service
from services.faults.config import FaultsSettings
from services.faults.consumers import ConsumerDeps, LogConsumer
from services.faults.engines import EngineRegistry
from services.faults.events import OutboxRelay
from services.faults.incidents import Evidence, IncidentContext, OccurrenceGroup, crossed_power_of_ten
from services.faults.maintenance import Maintenance
from services.faults.models import SCHEMA, Incident, LogRecordRow, OutboxEvent
from tests.faults_service.helpers import DISK_FULL, LogFile, connect, hadoop_line, publish, spaced_time

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "faults" / "migrations"


@pytest.fixture
async def db(infra):
    await migrate(infra.database_url, SCHEMA, MIGRATIONS)
    database = Database(infra.database_url, pool_size=2)
    yield database
    await database.dispose()


def _group(cluster: str, count: int, *, text: str = "No space left on device") -> OccurrenceGroup:
    group = OccurrenceGroup(cluster=cluster, node="n1", kind="disk_full", severity="error",
                            title_zh="磁盘已满", title_en="Disk full", first_limit=2, recent_limit=3)
    for index in range(count):
        moment = spaced_time(index)
        group.add(moment, Evidence(text=f"{text} #{index}", time=moment, file="/var/log/a.log", offset=index))
    return group


async def _outbox_events(db: Database, incident_id: str) -> list[str]:
    async with db.session() as session:
        rows = (await session.execute(
            select(OutboxEvent).where(OutboxEvent.msg_id.like(f"{incident_id}:%")).order_by(OutboxEvent.id)
        )).scalars().all()
    return [row.msg_id for row in rows]


def test_crossed_power_of_ten_cases():
    assert crossed_power_of_ten(0, 1) is False
    assert crossed_power_of_ten(9, 10) is True
    assert crossed_power_of_ten(10, 99) is False
    assert crossed_power_of_ten(95, 1200) is True


def test_occurrence_group_keeps_first_and_recent():
    group = _group("c", 10)
    texts = [item.text for item in group.evidence()]
    assert texts == [f"No space left on device #{i}" for i in (0, 1, 7, 8, 9)]
    assert group.count == 10
    assert group.first_seen == spaced_time(0)
    assert group.last_seen == spaced_time(9)


async def test_state_machine_deduplicates_and_throttles(db, infra):
    cluster = str(uuid.uuid4())
    settings = FaultsSettings(update_throttle_seconds=30)
    now = utcnow()
    ctx = IncidentContext(settings=settings, names=Names(infra.prefix), now=now)
    async with db.session() as session:
        incident = await incidents.record_occurrences(session, _group(cluster, 1), ctx)
    async with db.session() as session:
        await incidents.record_occurrences(session, _group(cluster, 3), ctx)
    throttled = await _outbox_events(db, incident.id)
    async with db.session() as session:
        await incidents.record_occurrences(session, _group(cluster, 6), ctx)
    crossed = await _outbox_events(db, incident.id)
    async with db.session() as session:
        await incidents.record_occurrences(session, _group(cluster, 1), ctx)
        later = IncidentContext(settings=settings, names=ctx.names, now=now + timedelta(seconds=31))
        flushed = await incidents.flush_pending_updates(session, later)
        stored = await session.get(Incident, incident.id)

    assert throttled == [f"{incident.id}:1"]
    assert crossed == [f"{incident.id}:1", f"{incident.id}:2"]
    assert flushed >= 1
    assert stored.count == 11
    assert stored.event_seq == 3
    assert len(stored.evidence_first) == 2
    assert len(stored.evidence_recent) == 3
    assert stored.evidence_recent[-1]["text"].endswith("#0")


async def test_log_handler_redelivery_changes_nothing(db, infra):
    nc, names = await connect(infra)
    js = nc.jetstream()
    await ensure_streams(js, names, ["LOGS"])
    cluster = str(uuid.uuid4())
    lines = [hadoop_line(spaced_time(i), "ERROR", DISK_FULL) for i in range(3)]
    await publish(nc, names, *LogFile(cluster, "r1").batch(lines))
    subscription = await js.pull_subscribe(names.logs(cluster, "r1", "datanode"), stream=names.stream("LOGS"))
    messages = await subscription.fetch(1, timeout=5)

    catalog = load_catalog()
    deps = ConsumerDeps(db=db, js=js, names=names, catalog=catalog, settings=FaultsSettings(),
                        registry=EngineRegistry(catalog), relay=OutboxRelay(db, js), fence=_no_fence)
    consumer = LogConsumer(deps)
    await consumer.handle(messages)
    first = await _snapshot(db, cluster)
    await consumer.handle(messages)
    second = await _snapshot(db, cluster)
    await nc.close()

    assert first == (3, 3, 1)
    assert second == first


async def _no_fence(session) -> None:
    """Let the handler commit: this test runs it alone, and test_leadership covers the fence."""


async def _snapshot(db: Database, cluster: str) -> tuple[int, int, int]:
    """Return (occurrences counted, log records stored, events queued) for ``cluster``."""
    async with db.session() as session:
        count = (await session.execute(
            select(func.coalesce(func.sum(Incident.count), 0)).where(Incident.cluster == cluster)
        )).scalar_one()
        stored = (await session.execute(
            select(func.count()).select_from(LogRecordRow).where(LogRecordRow.cluster == cluster)
        )).scalar_one()
        queued = (await session.execute(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.payload.contains(cluster))
        )).scalar_one()
    return count, stored, queued


async def test_log_retention_deletes_in_batches(db):
    cluster = str(uuid.uuid4())
    now = utcnow()
    rows = [_log_row(cluster, now - timedelta(hours=80)) for _ in range(250)]
    rows += [_log_row(cluster, now) for _ in range(2)]
    async with db.session() as session:
        await session.execute(LogRecordRow.__table__.insert(), rows)
    maintenance = Maintenance(db=db, js=None, names=Names(), settings=FaultsSettings(delete_batch=100), relay=None)
    deleted = await maintenance.delete_old_log_records()
    async with db.session() as session:
        left = (await session.execute(
            select(func.count()).select_from(LogRecordRow).where(LogRecordRow.cluster == cluster)
        )).scalar_one()

    assert deleted >= 250
    assert left == 2


def _log_row(cluster: str, received_at) -> dict:
    return {
        "cluster": cluster, "node_host": "n1", "level": "WARN", "log_time": received_at, "title": "DataNode",
        "info": "slow", "log_type": "datanode", "source_file": "/var/log/a.log", "received_at": received_at,
    }


async def test_processed_keys_pruned_below_ack_floor(db):
    stream = f"TEST{uuid.uuid4().hex[:8]}"
    now = utcnow()
    old = now - timedelta(hours=30)
    async with db.session() as session:
        await service.claim_messages(session, stream=stream, keys={"old-acked": 5, "old-unacked": 20}, now=old)
        await service.claim_messages(session, stream=stream, keys={"new-acked": 6}, now=now)
    async with db.session() as session:
        pruned = await service.prune_processed(
            session, stream=stream, before=now - timedelta(hours=24), ack_floor=10, batch=100
        )
        kept = await service.claim_messages(
            session, stream=stream, keys={"old-acked": 5, "old-unacked": 20, "new-acked": 6}, now=now
        )

    assert pruned == 1
    assert kept == {"old-acked"}
