"""Database work of the faults service: incident and log record queries, message keys, saved state.

Functions take keyword-only arguments and run inside the caller's transaction.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.errors import NotFound
from services.faults.models import OPEN_STATUSES, EngineState, Incident, LogRecordRow, ProcessedMessage


async def get(session: AsyncSession, *, incident_id: str, for_update: bool = False) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_or_raise(session: AsyncSession, *, incident_id: str, for_update: bool = False) -> Incident:
    incident = await get(session, incident_id=incident_id, for_update=for_update)
    if incident is None:
        raise NotFound()
    return incident


async def list_incidents(
    session: AsyncSession,
    *,
    clusters: Sequence[str] | None,
    node: str | None = None,
    seen_from: datetime | None = None,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Incident], int]:
    """Return one page of incidents, newest first, and the total matching the filters.

    ``clusters`` None means every cluster; an empty list matches nothing.
    """
    conditions = []
    if clusters is not None:
        conditions.append(Incident.cluster.in_(clusters))
    if node:
        conditions.append(Incident.node == node)
    if seen_from is not None:
        conditions.append(Incident.last_seen >= seen_from)
    if statuses:
        conditions.append(Incident.status.in_(statuses))
    if kind:
        conditions.append(Incident.kind == kind)

    total = (await session.execute(select(func.count()).select_from(Incident).where(*conditions))).scalar_one()
    query = (
        select(Incident)
        .where(*conditions)
        .order_by(Incident.created_at.desc(), Incident.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all()), total


async def delete_incident(session: AsyncSession, *, incident: Incident) -> None:
    await session.delete(incident)


async def count_by_kind_and_status(session: AsyncSession) -> list[tuple[str, str, int]]:
    """Return (kind, status, count) for every pair that has incidents."""
    query = select(Incident.kind, Incident.status, func.count()).group_by(Incident.kind, Incident.status)
    return [(kind, status, count) for kind, status, count in (await session.execute(query)).all()]


async def count_open(session: AsyncSession) -> int:
    query = select(func.count()).select_from(Incident).where(Incident.status.in_(OPEN_STATUSES))
    return (await session.execute(query)).scalar_one()


# Log records for GET /logs.


async def list_log_records(
    session: AsyncSession,
    *,
    clusters: Sequence[str] | None,
    node: str | None = None,
    level: str | None = None,
    time_from: datetime | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[LogRecordRow], int]:
    """Return one page of stored log records, newest log time first, and the total matching."""
    # NOTE: the total is an exact count, whose cost grows with the rows kept (72 hours of WARN+
    # records by default); a very busy installation may need an estimated total instead.
    conditions = []
    if clusters is not None:
        conditions.append(LogRecordRow.cluster.in_(clusters))
    if node:
        conditions.append(LogRecordRow.node_host == node)
    if level:
        conditions.append(LogRecordRow.level == level)
    if time_from is not None:
        conditions.append(LogRecordRow.log_time >= time_from)

    total = (await session.execute(select(func.count()).select_from(LogRecordRow).where(*conditions))).scalar_one()
    query = (
        select(LogRecordRow)
        .where(*conditions)
        .order_by(LogRecordRow.log_time.desc(), LogRecordRow.log_id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all()), total


async def delete_old_log_records(session: AsyncSession, *, before: datetime, batch: int) -> int:
    """Delete at most ``batch`` log records received before ``before``; return how many went."""
    oldest = select(LogRecordRow.log_id).where(LogRecordRow.received_at < before).limit(batch)
    result = await session.execute(delete(LogRecordRow).where(LogRecordRow.log_id.in_(oldest)))
    return result.rowcount or 0


# Processed JetStream messages.


async def claim_messages(session: AsyncSession, *, stream: str, keys: dict[str, int], now: datetime) -> set[str]:
    """Record the message keys (key to stream sequence) and return those not processed before.

    The keys are written in the caller's transaction, so they commit or roll back together
    with the effects of the messages.
    """
    if not keys:
        return set()
    rows = [{"key": key, "stream": stream, "stream_seq": seq, "processed_at": now} for key, seq in keys.items()]
    statement = insert(ProcessedMessage).values(rows).on_conflict_do_nothing().returning(ProcessedMessage.key)
    return set((await session.execute(statement)).scalars().all())


async def prune_processed(
    session: AsyncSession, *, stream: str, before: datetime, ack_floor: int, batch: int
) -> int:
    """Delete keys older than ``before`` whose messages JetStream will never deliver again.

    Every message at or below the consumer's acknowledgement floor is acknowledged, so it is
    not redelivered; keys above the floor stay whatever their age.
    """
    victims = (
        select(ProcessedMessage.key)
        .where(
            ProcessedMessage.stream == stream,
            ProcessedMessage.processed_at < before,
            ProcessedMessage.stream_seq <= ack_floor,
        )
        .limit(batch)
    )
    result = await session.execute(delete(ProcessedMessage).where(ProcessedMessage.key.in_(victims)))
    return result.rowcount or 0


# Saved state of the detection engines.


async def load_engine_state(session: AsyncSession, *, cluster: str, node: str) -> EngineState | None:
    """Return the saved templates and windows of the engine of (cluster, node), or None when never saved."""
    return await session.get(EngineState, (cluster, node))


async def save_engine_state(
    session: AsyncSession, *, cluster: str, node: str, templates: bytes, windows: bytes, write_templates: bool,
    now: datetime,
) -> None:
    """Save the state of the engine of (cluster, node); an existing row keeps its templates unless ``write_templates``.

    The windows change with nearly every batch and the templates seldom, so most saves send only
    the windows, which are small, and leave the templates, which can be large, where they are.
    """
    if not write_templates:
        # A Core statement on the table, because an ORM-enabled UPDATE also synchronises the
        # session's objects, work that this statement runs for every batch without need.
        table = EngineState.__table__
        statement = (
            update(table)
            .where(table.c.cluster == cluster, table.c.node == node)
            .values(windows=windows, updated_at=now)
        )
        if (await session.execute(statement)).rowcount:
            return

    statement = insert(EngineState).values(cluster=cluster, node=node, state=templates, windows=windows,
                                           updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[EngineState.cluster, EngineState.node],
        set_={"state": statement.excluded.state, "windows": statement.excluded.windows,
              "updated_at": statement.excluded.updated_at},
    )
    await session.execute(statement)


def cutoff(now: datetime, *, hours: float) -> datetime:
    return now - timedelta(hours=hours)
