"""Database work of the collector: nodes, collectors, file positions and metric samplers."""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.timeutil import utcnow
from services.collector.models import CollectorRow, FilePosition, MetricSampler, Node

# Nodes


async def get(session: AsyncSession, *, node_uuid: str) -> Node | None:
    return await session.get(Node, node_uuid)


async def list_nodes(session: AsyncSession, *, cluster_uuid: str | None = None) -> list[Node]:
    statement = select(Node).order_by(Node.cluster_name, Node.name)
    if cluster_uuid is not None:
        statement = statement.where(Node.cluster_uuid == cluster_uuid)
    return list((await session.scalars(statement)).all())


async def upsert_node(session: AsyncSession, *, values: dict) -> None:
    """Insert or update a node; ``values`` has every column of ``Node`` except the timestamps."""
    now = utcnow()
    statement = insert(Node).values(**values, created_at=now, updated_at=now)
    changes = {key: statement.excluded[key] for key in values if key not in ("node_uuid", "collect_new_types")}
    changes["updated_at"] = now
    await session.execute(statement.on_conflict_do_update(index_elements=[Node.node_uuid], set_=changes))


_SYNCED_FIELDS = {"name": "name", "address": "address", "port": "port", "cluster_name": "cluster_name"}


async def update_node_fields(session: AsyncSession, *, node_uuid: str, fields: dict) -> bool:
    """Copy name, address, port, cluster name and log folders from inventory; return whether any changed."""
    node = await session.get(Node, node_uuid)
    if node is None:
        return False
    changed = False
    for source, column in _SYNCED_FIELDS.items():
        value = fields.get(source)
        if value is not None and getattr(node, column) != value:
            setattr(node, column, value)
            changed = True
    log_dirs = fields.get("log_dirs")
    if isinstance(log_dirs, list) and list(node.log_dirs or []) != log_dirs:
        node.log_dirs = log_dirs
        changed = True
    return changed


async def set_known_host_key(session: AsyncSession, *, node_uuid: str, key: str) -> None:
    await session.execute(
        update(Node).where(Node.node_uuid == node_uuid).values(known_host_key=key, updated_at=utcnow())
    )


async def set_collect_new_types(session: AsyncSession, *, node_uuids: Iterable[str], enabled: bool) -> None:
    await session.execute(
        update(Node).where(Node.node_uuid.in_(list(node_uuids))).values(collect_new_types=enabled, updated_at=utcnow())
    )


async def delete_nodes(
    session: AsyncSession, *, node_uuid: str | None = None, cluster_uuid: str | None = None
) -> list[str]:
    """Delete nodes with their secrets, collectors and positions; return the deleted node uuids."""
    statement = select(Node.node_uuid)
    if node_uuid is not None:
        statement = statement.where(Node.node_uuid == node_uuid)
    if cluster_uuid is not None:
        statement = statement.where(Node.cluster_uuid == cluster_uuid)
    uuids = list((await session.scalars(statement)).all())
    if not uuids:
        return []

    await session.execute(delete(FilePosition).where(FilePosition.node_uuid.in_(uuids)))
    await session.execute(delete(CollectorRow).where(CollectorRow.node_uuid.in_(uuids)))
    await session.execute(delete(Node).where(Node.node_uuid.in_(uuids)))
    return uuids


# Collectors


async def list_collectors(session: AsyncSession, *, node_uuids: Iterable[str] | None = None) -> list[CollectorRow]:
    statement = select(CollectorRow).order_by(CollectorRow.node_uuid, CollectorRow.log_type)
    if node_uuids is not None:
        statement = statement.where(CollectorRow.node_uuid.in_(list(node_uuids)))
    return list((await session.scalars(statement)).all())


async def add_collectors(
    session: AsyncSession, *, node_uuid: str, log_types: Iterable[str], running: bool, interval: int
) -> None:
    """Insert a collector for each new log type of a node; existing ones keep their state."""
    rows = [
        {"node_uuid": node_uuid, "log_type": log_type, "running": running, "interval": interval, "updated_at": utcnow()}
        for log_type in sorted(set(log_types))
    ]
    if rows:
        await session.execute(insert(CollectorRow).values(rows).on_conflict_do_nothing())


async def set_collector(
    session: AsyncSession, *, node_uuid: str, log_type: str, running: bool, interval: int | None = None
) -> None:
    values: dict = {"running": running, "updated_at": utcnow()}
    if interval is not None:
        values["interval"] = interval
    statement = insert(CollectorRow).values(
        node_uuid=node_uuid, log_type=log_type, running=running, interval=interval or 5, updated_at=utcnow()
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=[CollectorRow.node_uuid, CollectorRow.log_type], set_=values)
    )


async def set_collectors_running(
    session: AsyncSession, *, node_uuids: Iterable[str], running: bool, interval: int | None = None
) -> None:
    values: dict = {"running": running, "updated_at": utcnow()}
    if interval is not None:
        values["interval"] = interval
    await session.execute(update(CollectorRow).where(CollectorRow.node_uuid.in_(list(node_uuids))).values(**values))


async def set_collectors_interval(session: AsyncSession, *, node_uuids: Iterable[str], interval: int) -> None:
    await session.execute(
        update(CollectorRow)
        .where(CollectorRow.node_uuid.in_(list(node_uuids)))
        .values(interval=interval, updated_at=utcnow())
    )


# File positions


@dataclass(frozen=True)
class PositionUpdate:
    """A file's new inode and committed offset, and the boundaries of its uncommitted publish."""

    path: str
    log_type: str
    inode: int
    offset: int
    generation: int = 0
    pending_starts: list[int] | None = None
    pending_end: int | None = None


async def load_positions(session: AsyncSession, *, node_uuid: str) -> dict[str, FilePosition]:
    rows = await session.scalars(select(FilePosition).where(FilePosition.node_uuid == node_uuid))
    return {row.path: row for row in rows}


async def save_positions(session: AsyncSession, *, node_uuid: str, updates: Iterable[PositionUpdate]) -> None:
    rows = [
        {
            "node_uuid": node_uuid,
            "path": item.path,
            "log_type": item.log_type,
            "inode": item.inode,
            "offset": item.offset,
            "generation": item.generation,
            "pending_starts": item.pending_starts,
            "pending_end": item.pending_end,
            "updated_at": utcnow(),
        }
        for item in updates
    ]
    if not rows:
        return
    statement = insert(FilePosition).values(rows)
    changes = {key: statement.excluded[key] for key in rows[0] if key not in ("node_uuid", "path")}
    await session.execute(
        statement.on_conflict_do_update(index_elements=[FilePosition.node_uuid, FilePosition.path], set_=changes)
    )


# Metric samplers


async def get_sampler(session: AsyncSession, *, cluster_uuid: str) -> MetricSampler | None:
    return await session.get(MetricSampler, cluster_uuid)


async def list_samplers(session: AsyncSession) -> list[MetricSampler]:
    return list((await session.scalars(select(MetricSampler))).all())


async def set_sampler(session: AsyncSession, *, cluster_uuid: str, running: bool, interval: int) -> None:
    statement = insert(MetricSampler).values(
        cluster_uuid=cluster_uuid, running=running, interval=interval, updated_at=utcnow()
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[MetricSampler.cluster_uuid],
            set_={"running": running, "interval": interval, "updated_at": utcnow()},
        )
    )
