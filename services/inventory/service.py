"""Database work on clusters, ownership and nodes; no NATS calls here.

Every lookup skips deleted clusters. An admin may use every cluster, and other users only
the clusters mapped to them in ``cluster_owners``. A ``principal`` of ``None`` is an
internal call from another service, which may use every cluster.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, false, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.errors import NotFound, ValidationFailed, field_error
from libs.common.rpc import Principal
from libs.common.timeutil import utcnow
from services.inventory.models import Cluster, ClusterOwner, Node


async def get(session: AsyncSession, *, cluster_uuid: uuid.UUID) -> Cluster | None:
    """Return the live cluster with this uuid, or None."""
    statement = select(Cluster).where(Cluster.uuid == cluster_uuid, Cluster.deleted_at.is_(None))
    return (await session.execute(statement)).scalar_one_or_none()


def _text_equals(column, value: str):
    """Return the condition ``column == value``; a value with NUL matches no row, since PostgreSQL text has no NUL."""
    return false() if "\x00" in value else column == value


def _key_condition(key: str):
    try:
        return Cluster.uuid == uuid.UUID(key)
    except ValueError:
        return _text_equals(Cluster.name, key)


async def get_by_uuid_or_name(session: AsyncSession, *, key: str) -> Cluster | None:
    """Return the live cluster whose uuid or name is ``key``, or None."""
    statement = select(Cluster).where(_key_condition(key), Cluster.deleted_at.is_(None))
    return (await session.execute(statement)).scalar_one_or_none()


async def is_owner(session: AsyncSession, *, user_id: int, cluster_uuid: uuid.UUID) -> bool:
    statement = select(ClusterOwner.user_id).where(
        ClusterOwner.user_id == user_id, ClusterOwner.cluster_uuid == cluster_uuid
    )
    return (await session.execute(statement)).first() is not None


async def check_access(session: AsyncSession, *, cluster: Cluster, principal: Principal | None) -> None:
    """Raise ``NotFound`` unless the principal is internal, an admin, or mapped to the cluster.

    Another user's cluster gets the same 404 as an unknown one, so a caller cannot learn which
    cluster ids or names exist.
    """
    if principal is None or principal.is_admin:
        return
    if not await is_owner(session, user_id=principal.user_id, cluster_uuid=cluster.uuid):
        raise NotFound()


async def get_by_uuid_or_name_or_raise(session: AsyncSession, *, key: str, principal: Principal | None) -> Cluster:
    """Return the cluster the principal may use, checking access in the same query; raise 404 otherwise.

    An unknown cluster and another user's cluster get the same 404.
    """
    if principal is None or principal.is_admin:
        allowed = true()
    else:
        allowed = exists().where(ClusterOwner.user_id == principal.user_id, ClusterOwner.cluster_uuid == Cluster.uuid)
    statement = select(Cluster, allowed).where(_key_condition(key), Cluster.deleted_at.is_(None))
    row = (await session.execute(statement)).first()
    if row is None:
        raise NotFound()
    cluster, is_allowed = row
    if not is_allowed:
        raise NotFound()
    return cluster


def _visible_clusters(principal: Principal | None):
    """Return a condition selecting the live clusters the principal may see."""
    live = Cluster.deleted_at.is_(None)
    if principal is None or principal.is_admin:
        return live
    owned = select(ClusterOwner.cluster_uuid).where(ClusterOwner.user_id == principal.user_id)
    return and_(live, Cluster.uuid.in_(owned))


async def list_visible(session: AsyncSession, *, principal: Principal | None) -> list[tuple[Cluster, int]]:
    """Return the clusters the principal may see, each with its node count, in one query."""
    node_count = (
        select(func.count(Node.uuid)).where(Node.cluster_uuid == Cluster.uuid).correlate(Cluster).scalar_subquery()
    )
    statement = (
        select(Cluster, node_count).where(_visible_clusters(principal)).order_by(Cluster.created_at, Cluster.name)
    )
    return [(cluster, count) for cluster, count in (await session.execute(statement)).all()]


async def create(session: AsyncSession, *, values: dict[str, Any], owner_id: int | None, lang: str) -> Cluster:
    """Insert a cluster and map it to ``owner_id``; raise 409 ``ValidationFailed`` on a taken uuid or name."""
    existing = await session.get(Cluster, values["uuid"])
    if existing is not None:
        raise ValidationFailed([field_error("uuid", "cluster_exists", lang)], status_code=409)
    await _check_name_free(session, name=values["name"], lang=lang)

    cluster = Cluster(**values, created_by=owner_id)
    session.add(cluster)
    if owner_id is not None:
        session.add(ClusterOwner(user_id=owner_id, cluster_uuid=cluster.uuid))
    await _flush_or_conflict(session, field="name", code="cluster_name_taken", lang=lang)
    return cluster


async def _check_name_free(
    session: AsyncSession, *, name: str, lang: str, except_uuid: uuid.UUID | None = None
) -> None:
    statement = select(Cluster.uuid).where(Cluster.name == name, Cluster.deleted_at.is_(None))
    if except_uuid is not None:
        statement = statement.where(Cluster.uuid != except_uuid)
    if (await session.execute(statement)).first() is not None:
        raise ValidationFailed([field_error("name", "cluster_name_taken", lang)], status_code=409)


async def _flush_or_conflict(session: AsyncSession, *, field: str, code: str, lang: str) -> None:
    """Flush; a unique violation from a concurrent insert becomes a 409 on ``field``."""
    try:
        await session.flush()
    except IntegrityError as error:
        if "unique" not in str(error.orig).lower() and "duplicate" not in str(error.orig).lower():
            raise
        raise ValidationFailed([field_error(field, code, lang)], status_code=409) from None


async def update_cluster(session: AsyncSession, *, cluster: Cluster, changes: dict[str, Any], lang: str) -> Cluster:
    """Apply ``changes`` (name, description, repair_policy) to the cluster."""
    if "name" in changes and changes["name"] != cluster.name:
        await _check_name_free(session, name=changes["name"], lang=lang, except_uuid=cluster.uuid)
    for key, value in changes.items():
        setattr(cluster, key, value)
    cluster.updated_at = utcnow()
    await _flush_or_conflict(session, field="name", code="cluster_name_taken", lang=lang)
    return cluster


async def soft_delete(session: AsyncSession, *, cluster: Cluster) -> None:
    """Mark the cluster deleted and remove its ownership rows; nodes and samples stay."""
    cluster.deleted_at = utcnow()
    cluster.updated_at = cluster.deleted_at
    await session.execute(delete(ClusterOwner).where(ClusterOwner.cluster_uuid == cluster.uuid))


async def create_node(session: AsyncSession, *, values: dict[str, Any], field: str, lang: str) -> Node:
    """Insert a node; raise 409 ``ValidationFailed`` on ``field`` when its name is taken in the cluster."""
    statement = select(Node.uuid).where(Node.cluster_uuid == values["cluster_uuid"], Node.name == values["name"])
    if (await session.execute(statement)).first() is not None:
        raise ValidationFailed([field_error(field, "node_name_taken", lang)], status_code=409)
    node = Node(**values)
    session.add(node)
    await _flush_or_conflict(session, field=field, code="node_name_taken", lang=lang)
    return node


async def list_nodes(session: AsyncSession, *, cluster_uuid: uuid.UUID) -> Sequence[Node]:
    """Return the cluster's nodes ordered by name, in one query on the (cluster, name) index."""
    statement = select(Node).where(Node.cluster_uuid == cluster_uuid).order_by(Node.name)
    return (await session.execute(statement)).scalars().all()


async def get_node_by_name(session: AsyncSession, *, cluster_uuid: uuid.UUID, name: str) -> Node | None:
    statement = select(Node).where(Node.cluster_uuid == cluster_uuid, Node.name == name)
    return (await session.execute(statement)).scalar_one_or_none()


async def find_nodes(
    session: AsyncSession, *, principal: Principal | None, name: str | None = None, cluster: Cluster | None = None
) -> list[tuple[Node, Cluster]]:
    """Return nodes of live clusters the principal may see, filtered by node name and cluster."""
    statement = select(Node, Cluster).join(Cluster, Node.cluster_uuid == Cluster.uuid)
    statement = statement.where(_visible_clusters(principal))
    if name is not None:
        statement = statement.where(_text_equals(Node.name, name))
    if cluster is not None:
        statement = statement.where(Node.cluster_uuid == cluster.uuid)
    statement = statement.order_by(Cluster.name, Node.name)
    return [(node, owner) for node, owner in (await session.execute(statement)).all()]


async def get_master_node(session: AsyncSession, *, cluster: Cluster) -> Node | None:
    """Return the registered node named like the cluster's host, else the first registered node."""
    statement = (
        select(Node)
        .where(Node.cluster_uuid == cluster.uuid, Node.source == "registered")
        .order_by(case((Node.name == cluster.host, 0), else_=1), Node.created_at, Node.name)
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def latest_memory(
    session: AsyncSession, *, cluster_uuid: uuid.UUID, since: datetime, node_uuid: uuid.UUID | None = None
) -> list[tuple[float, datetime]]:
    """Return (memory percent, time) of each node's latest sample if it is newer than ``since``.

    The node rows hold their latest sample's values, so this reads one row per node instead of
    the samples table.
    """
    statement = select(Node.memory_usage, Node.last_heartbeat).where(
        Node.cluster_uuid == cluster_uuid, Node.last_heartbeat >= since, Node.memory_usage.is_not(None)
    )
    if node_uuid is not None:
        statement = statement.where(Node.uuid == node_uuid)
    return [(float(value), moment) for value, moment in (await session.execute(statement)).all()]


async def update_node_roles(session: AsyncSession, *, node: Node, roles: list[str]) -> bool:
    """Add ``roles`` to the node's roles; return whether any was new."""
    merged = sorted(set(node.roles) | set(roles))
    if merged == sorted(node.roles):
        return False
    node.roles = merged
    node.updated_at = utcnow()
    return True


def cluster_health_expression():
    """Return the SQL aggregate of a cluster's health over its nodes' statuses.

    Every node unknown gives ``unknown``, every node healthy ``healthy``, every node
    unhealthy ``unhealthy``, and any mix ``warning``.
    """
    total = func.count()
    return case(
        (func.count().filter(Node.status == "unknown") == total, "unknown"),
        (func.count().filter(Node.status == "healthy") == total, "healthy"),
        (func.count().filter(Node.status == "unhealthy") == total, "unhealthy"),
        else_="warning",
    )


async def refresh_health(session: AsyncSession, *, cluster_uuids: set[uuid.UUID]) -> None:
    """Recompute the health of these clusters from their nodes; a cluster without nodes is ``unknown``."""
    if not cluster_uuids:
        return
    health = (
        select(cluster_health_expression())
        .where(Node.cluster_uuid == Cluster.uuid)
        .correlate(Cluster)
        .scalar_subquery()
    )
    statement = (
        update(Cluster)
        .where(Cluster.uuid.in_(cluster_uuids))
        .values(health_status=func.coalesce(health, "unknown"))
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)
