"""Reads behind the endpoints: clusters, nodes, metric trends and the internal node lookups."""

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from libs.common.errors import Conflict, NotFound
from libs.common.rpc import Principal
from libs.common.timeutil import utcnow
from services.inventory import samples, service, views
from services.inventory.context import InventoryContext
from services.inventory.models import Cluster, Node
from services.inventory.schemas import MemoryUsageResponse, NodeDetail, TrendResponse


async def list_clusters(ctx: InventoryContext, principal: Principal) -> dict:
    async with ctx.db.session() as session:
        rows = await service.list_visible(session, principal=principal)
    return {"clusters": [views.cluster_item(cluster, count) for cluster, count in rows]}


async def get_cluster(ctx: InventoryContext, principal: Principal | None, key: str) -> dict:
    """Return the cluster, found by uuid or name, with its repair policy; other services call this."""
    async with ctx.db.session() as session:
        cluster = await service.get_by_uuid_or_name_or_raise(session, key=key, principal=principal)
        node_count = len(await service.list_nodes(session, cluster_uuid=cluster.uuid))
    return views.cluster_detail(cluster, node_count)


async def list_nodes(ctx: InventoryContext, principal: Principal, cluster_uuid: uuid.UUID, lang: str) -> dict:
    """Return the nodes of one cluster: one query for the cluster and its access, one for the nodes."""
    async with ctx.db.session() as session:
        cluster = await service.get_by_uuid_or_name_or_raise(session, key=str(cluster_uuid), principal=principal)
        nodes = await service.list_nodes(session, cluster_uuid=cluster.uuid)
    now = utcnow()
    return {"nodes": [views.node_item(node, lang, now) for node in nodes]}


async def find_node(
    ctx: InventoryContext, principal: Principal | None, name: str, cluster_key: str | None
) -> tuple[Node, Cluster]:
    """Return the node called ``name`` in the principal's clusters.

    Raises ``NotFound`` when no visible cluster has it or the given cluster is unknown or not
    the principal's, and ``Conflict("ambiguous_node")`` when several clusters have it and no
    cluster was given.
    """
    async with ctx.db.session() as session:
        cluster = None
        if cluster_key is not None:
            cluster = await service.get_by_uuid_or_name_or_raise(session, key=cluster_key, principal=principal)
        matches = await service.find_nodes(session, principal=principal, name=name, cluster=cluster)
    if not matches:
        raise NotFound()
    if len(matches) > 1:
        raise Conflict("ambiguous_node")
    return matches[0]


async def node_detail(ctx: InventoryContext, principal: Principal, name: str, cluster_key: str | None) -> NodeDetail:
    node, cluster = await find_node(ctx, principal, name, cluster_key)
    return views.node_detail(node, cluster)


async def list_node_refs(ctx: InventoryContext, principal: Principal | None, cluster_key: str | None) -> dict:
    async with ctx.db.session() as session:
        cluster = None
        if cluster_key is not None:
            cluster = await service.get_by_uuid_or_name_or_raise(session, key=cluster_key, principal=principal)
        matches = await service.find_nodes(session, principal=principal, cluster=cluster)
    return {"nodes": [views.node_ref(node, owner) for node, owner in matches]}


async def list_all(ctx: InventoryContext) -> dict:
    """Return ``{"clusters": [{uuid, name, repair_policy, nodes: [node refs]}]}`` for every live cluster."""
    async with ctx.db.session() as session:
        clusters = await service.list_visible(session, principal=None)
        matches = await service.find_nodes(session, principal=None)
    nodes: dict[uuid.UUID, list] = {}
    for node, cluster in matches:
        nodes.setdefault(cluster.uuid, []).append(views.node_ref(node, cluster))
    return {
        "clusters": [
            {
                "uuid": str(cluster.uuid),
                "name": cluster.name,
                "repair_policy": cluster.repair_policy,
                "nodes": nodes.get(cluster.uuid, []),
            }
            for cluster, _ in clusters
        ]
    }


async def cpu_trend(
    ctx: InventoryContext,
    principal: Principal,
    *,
    cluster_uuid: uuid.UUID,
    node_name: str | None,
    window: int,
    bucket: int,
    zone: ZoneInfo,
) -> TrendResponse:
    """Return the average CPU usage per time bucket over the cluster's nodes, or over one node's samples."""
    cluster, node = await _target(ctx, principal, cluster_uuid, node_name)
    buckets = views.make_buckets(window, bucket)
    async with ctx.db.session() as session:
        averages = await samples.bucket_averages(
            session,
            metric="cpu",
            start=buckets.start,
            end=buckets.end,
            bucket_seconds=bucket,
            cluster_uuid=cluster.uuid,
            node_uuid=node.uuid if node else None,
        )
    starts = buckets.starts()
    return TrendResponse(
        times=views.time_labels(starts, zone),
        values=[views.round_percent(averages.get(index)) for index in range(buckets.count)],
        timestamps=starts,
        bucket=bucket,
        window=window,
    )


async def memory_usage(
    ctx: InventoryContext, principal: Principal, *, cluster_uuid: uuid.UUID, node_name: str | None, window: int
) -> MemoryUsageResponse:
    """Return memory use averaged over each node's latest sample in the window, or null when none arrived."""
    cluster, node = await _target(ctx, principal, cluster_uuid, node_name)
    async with ctx.db.session() as session:
        latest = await service.latest_memory(
            session,
            cluster_uuid=cluster.uuid,
            since=utcnow() - timedelta(seconds=window),
            node_uuid=node.uuid if node else None,
        )
    if not latest:
        return MemoryUsageResponse(used=None, free=None, nodes=0, sampled_at=None)
    used = sum(value for value, _ in latest) / len(latest)
    return MemoryUsageResponse(
        used=round(used, 1),
        free=round(100 - used, 1),
        nodes=len(latest),
        sampled_at=max(moment for _, moment in latest),
    )


async def _target(
    ctx: InventoryContext, principal: Principal, cluster_uuid: uuid.UUID, node_name: str | None
) -> tuple[Cluster, Node | None]:
    """Return the cluster the principal may read and, when named, its node; raise 404 otherwise."""
    async with ctx.db.session() as session:
        cluster = await service.get_by_uuid_or_name_or_raise(session, key=str(cluster_uuid), principal=principal)
        if node_name is None:
            return cluster, None
        node = await service.get_node_by_name(session, cluster_uuid=cluster.uuid, name=node_name)
    if node is None:
        raise NotFound()
    return cluster, node
