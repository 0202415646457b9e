"""Database work on metric samples and on the node state derived from them.

A node's status follows these rules, in order:

1. ``unhealthy`` when the collector reported it unreachable and no sample arrived since;
2. ``unknown`` when it has no sample newer than the heartbeat timeout;
3. ``warning`` when its latest CPU, memory or disk usage reaches the warning percentage;
4. ``healthy`` otherwise.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, and_, bindparam, case, delete, func, literal_column, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.models import Cluster, MetricSample, Node

USAGE_COLUMNS = {
    "cpu": MetricSample.cpu_percent,
    "memory": MetricSample.memory_percent,
    "disk": MetricSample.disk_percent,
}


@dataclass(frozen=True)
class EventNode:
    """The node an event names, found by the cluster and node given in the event."""

    node_uuid: uuid.UUID
    cluster_uuid: uuid.UUID
    cluster_deleted: bool


@dataclass(frozen=True)
class SampleRow:
    node_uuid: uuid.UUID
    cluster_uuid: uuid.UUID
    sampled_at: datetime
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None


@dataclass(frozen=True)
class Reachability:
    node_uuid: uuid.UUID
    reachable: bool
    observed_at: datetime
    error: str | None


async def resolve_event_nodes(session: AsyncSession, *, keys: set[tuple[str, str]]) -> dict[tuple[str, str], EventNode]:
    """Find the nodes named by events as (cluster uuid or name, node uuid or name), in one query.

    A live cluster wins over a deleted one with the same name. Keys that match nothing are absent.
    """
    # Node names are stored in lower case; events may spell them otherwise.
    names = {node.lower() for _, node in keys}
    node_uuids = {_as_uuid(node) for node in names} - {None}
    statement = (
        select(Node.uuid, Node.name, Cluster.uuid, Cluster.name, Cluster.deleted_at)
        .join(Cluster, Node.cluster_uuid == Cluster.uuid)
        .where(or_(Node.name.in_(names), Node.uuid.in_(node_uuids)))
    )
    rows = (await session.execute(statement)).all()

    found: dict[tuple[str, str], EventNode] = {}
    for cluster_key, node_key in keys:
        matches = [
            EventNode(node_uuid, cluster_uuid, deleted_at is not None)
            for node_uuid, node_name, cluster_uuid, cluster_name, deleted_at in rows
            if node_key.lower() in (node_name, str(node_uuid)) and cluster_key in (cluster_name, str(cluster_uuid))
        ]
        if matches:
            found[(cluster_key, node_key)] = min(matches, key=lambda match: match.cluster_deleted)
    return found


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def store_samples(session: AsyncSession, *, rows: list[SampleRow]) -> int:
    """Insert samples, skipping those already stored for the same node and time; return how many were new."""
    if not rows:
        return 0
    statement = (
        insert(MetricSample)
        .values([row.__dict__ for row in rows])
        .on_conflict_do_nothing(index_elements=["node_uuid", "sampled_at"])
        .returning(MetricSample.node_uuid)
    )
    return len((await session.execute(statement)).all())


async def apply_latest(session: AsyncSession, *, rows: Iterable[SampleRow]) -> None:
    """Copy each node's newest sample to the node row, unless the node already has a newer one."""
    table = Node.__table__
    statement = (
        update(table)
        .where(
            table.c.uuid == bindparam("node"),
            or_(table.c.last_heartbeat.is_(None), table.c.last_heartbeat < bindparam("at")),
        )
        .values(
            cpu_usage=bindparam("cpu"),
            memory_usage=bindparam("memory"),
            disk_usage=bindparam("disk"),
            last_heartbeat=bindparam("at"),
            updated_at=func.now(),
        )
    )
    parameters = [
        {
            "node": row.node_uuid,
            "at": row.sampled_at,
            "cpu": row.cpu_percent,
            "memory": row.memory_percent,
            "disk": row.disk_percent,
        }
        for row in rows
    ]
    if parameters:
        await session.execute(statement, parameters)


async def apply_reachability(session: AsyncSession, *, events: Iterable[Reachability]) -> None:
    """Store each node's reachability unless a newer report is already stored."""
    table = Node.__table__
    statement = (
        update(table)
        .where(
            table.c.uuid == bindparam("node"),
            or_(table.c.reachability_at.is_(None), table.c.reachability_at < bindparam("at")),
        )
        .values(
            reachable=bindparam("reachable"),
            reachability_at=bindparam("at"),
            reachability_error=bindparam("error"),
            updated_at=func.now(),
        )
    )
    parameters = [
        {"node": event.node_uuid, "reachable": event.reachable, "at": event.observed_at, "error": event.error}
        for event in events
    ]
    if parameters:
        await session.execute(statement, parameters)


def status_expression(*, stale_before: datetime, warning_percent: float):
    """Return the SQL expression of a node's status, following the rules in the module docstring."""
    unreachable = and_(
        Node.reachable.is_(False),
        or_(Node.last_heartbeat.is_(None), Node.last_heartbeat <= Node.reachability_at),
    )
    peak_usage = func.greatest(
        func.coalesce(Node.cpu_usage, 0), func.coalesce(Node.memory_usage, 0), func.coalesce(Node.disk_usage, 0)
    )
    return case(
        (unreachable, "unhealthy"),
        (or_(Node.last_heartbeat.is_(None), Node.last_heartbeat < stale_before), "unknown"),
        (peak_usage >= warning_percent, "warning"),
        else_="healthy",
    )


async def refresh_status(
    session: AsyncSession, *, node_uuids: set[uuid.UUID] | None, stale_before: datetime, warning_percent: float
) -> set[uuid.UUID]:
    """Recompute the status of these nodes (every node of a live cluster when None).

    Returns the clusters of the nodes whose status changed.
    """
    status = status_expression(stale_before=stale_before, warning_percent=warning_percent)
    live_clusters = select(Cluster.uuid).where(Cluster.deleted_at.is_(None))
    statement = (
        update(Node)
        .where(Node.status != status, Node.cluster_uuid.in_(live_clusters))
        .values(status=status)
        .returning(Node.cluster_uuid)
        .execution_options(synchronize_session=False)
    )
    if node_uuids is not None:
        if not node_uuids:
            return set()
        statement = statement.where(Node.uuid.in_(node_uuids))
    return set((await session.execute(statement)).scalars().all())


async def bucket_averages(
    session: AsyncSession,
    *,
    metric: str,
    start: datetime,
    end: datetime,
    bucket_seconds: int,
    cluster_uuid: uuid.UUID | None = None,
    node_uuid: uuid.UUID | None = None,
) -> dict[int, float]:
    """Return {bucket index: average usage} for samples in [start, end).

    Bucket ``i`` covers ``[start + i * bucket_seconds, start + (i + 1) * bucket_seconds)``.
    Each node's samples in a bucket are averaged first, then the node averages, so a node
    that reports more often does not weigh more. Buckets without samples are absent.
    """
    column = USAGE_COLUMNS[metric]
    # ``start`` is aligned to whole seconds, so integer epoch arithmetic places every sample exactly.
    index = func.floor((func.extract("epoch", MetricSample.sampled_at) - int(start.timestamp())) / bucket_seconds).cast(
        Integer
    )
    conditions = [column.is_not(None), MetricSample.sampled_at >= start, MetricSample.sampled_at < end]
    if cluster_uuid is not None:
        conditions.append(MetricSample.cluster_uuid == cluster_uuid)
    if node_uuid is not None:
        conditions.append(MetricSample.node_uuid == node_uuid)

    per_node = (
        select(index.label("bucket"), func.avg(column).label("value"))
        .where(*conditions)
        .group_by(MetricSample.node_uuid, literal_column("bucket"))
        .subquery()
    )
    statement = select(per_node.c.bucket, func.avg(per_node.c.value)).group_by(per_node.c.bucket)
    return {int(bucket): float(value) for bucket, value in (await session.execute(statement)).all()}


async def delete_expired(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` samples older than ``before``, oldest first; return how many."""
    oldest = (
        select(MetricSample.node_uuid, MetricSample.sampled_at)
        .where(MetricSample.sampled_at < before)
        .order_by(MetricSample.sampled_at)
        .limit(limit)
    )
    statement = delete(MetricSample).where(tuple_(MetricSample.node_uuid, MetricSample.sampled_at).in_(oldest))
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return result.rowcount or 0
