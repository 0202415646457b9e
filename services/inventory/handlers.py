"""NATS endpoints of the inventory service: ``hfd.inventory.<operation>``.

Public operations serve the gateway's routes and need the caller's principal. Internal
operations (``nodes.resolve``, ``nodes.list_for_principal``, ``nodes.set_log_dir``,
``clusters.get``, ``clusters.list_all``) serve other services and are never routed by the gateway. There a
missing principal means a service acting for itself, which may use every cluster.
"""

import math
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.common.errors import Unauthorized, ValidationFailed, field_error
from libs.common.rpc import Principal, RpcRequest, RpcService
from services.inventory import discovery, flows, logdirs, queries, views
from services.inventory.collector import Caller
from services.inventory.context import InventoryContext
from services.inventory.schemas import (
    ClusterCreate,
    ClusterFilter,
    ClusterUpdate,
    DiscoverOptions,
    LogDirChange,
    NodeCreate,
    ResolveRequest,
    TrendQuery,
)
from services.inventory.validation import parse, parse_hostname, parse_uuid

MAX_BUCKETS = 500


def _principal(request: RpcRequest) -> Principal:
    if request.principal is None:
        raise Unauthorized("not_authenticated")
    return request.principal


def _caller(request: RpcRequest) -> Caller:
    return Caller(principal=_principal(request), lang=request.lang, request_id=request.request_id)


class InventoryHandlers:
    """The endpoint functions, bound to one ``InventoryContext``."""

    def __init__(self, ctx: InventoryContext) -> None:
        self.ctx = ctx

    def register(self, rpc: RpcService) -> None:
        """Add every endpoint to ``rpc``."""
        rpc.add_all(self.operations())

    def operations(self) -> dict:
        return {
            "health": self.health,
            "clusters.list": self.list_clusters,
            "clusters.create": self.create_cluster,
            "clusters.update": self.update_cluster,
            "clusters.delete": self.delete_cluster,
            "clusters.nodes.add": self.add_node,
            "clusters.discover": self.discover,
            "nodes.list": self.list_nodes,
            "nodes.get": self.get_node,
            "metrics.cpu_trend": self.cpu_trend,
            "metrics.cpu_trend_node": self.cpu_trend_node,
            "metrics.memory_usage": self.memory_usage,
            "metrics.memory_usage_node": self.memory_usage_node,
            "nodes.resolve": self.resolve_node,
            "nodes.list_for_principal": self.list_nodes_for_principal,
            "nodes.set_log_dir": self.set_log_dir,
            "clusters.get": self.get_cluster,
            "clusters.list_all": self.list_all_nodes,
        }

    async def health(self, request: RpcRequest) -> dict:
        """Report the service and its database, as the gateway's health endpoint shows them."""
        database = await self.ctx.db.ping()
        return {"status": "ok" if database == "connected" else "degraded", "database": database}

    async def list_clusters(self, request: RpcRequest) -> dict:
        return await queries.list_clusters(self.ctx, _principal(request))

    async def create_cluster(self, request: RpcRequest) -> dict:
        caller = _caller(request)
        flows.require_writer(caller.principal)
        body = parse(ClusterCreate, request.body, request.lang)
        return await flows.register_cluster(self.ctx, caller, body)

    async def update_cluster(self, request: RpcRequest) -> dict:
        caller = _caller(request)
        cluster_uuid = parse_uuid(request.params.get("uuid"), "uuid", request.lang)
        body = parse(ClusterUpdate, request.body, request.lang)
        return await flows.update_cluster(self.ctx, caller, cluster_uuid, body)

    async def delete_cluster(self, request: RpcRequest) -> dict:
        caller = _caller(request)
        cluster_uuid = parse_uuid(request.params.get("uuid"), "uuid", request.lang)
        return await flows.delete_cluster(self.ctx, caller, cluster_uuid)

    async def add_node(self, request: RpcRequest) -> dict:
        caller = _caller(request)
        cluster_uuid = parse_uuid(request.params.get("uuid"), "uuid", request.lang)
        body = parse(NodeCreate, request.body, request.lang)
        return await flows.add_node(self.ctx, caller, cluster_uuid, body)

    async def discover(self, request: RpcRequest) -> dict:
        caller = _caller(request)
        cluster_uuid = parse_uuid(request.params.get("uuid"), "uuid", request.lang)
        options = parse(DiscoverOptions, request.body, request.lang)
        return await discovery.discover_workers(self.ctx, caller, cluster_uuid, options)

    async def list_nodes(self, request: RpcRequest) -> dict:
        principal = _principal(request)
        cluster_uuid = parse_uuid(request.params.get("cluster"), "cluster", request.lang)
        return await queries.list_nodes(self.ctx, principal, cluster_uuid, request.lang)

    async def get_node(self, request: RpcRequest) -> dict:
        principal = _principal(request)
        name = parse_hostname(request.params.get("name"), "name", request.lang)
        cluster = request.params.get("cluster") or None
        cluster_uuid = parse_uuid(cluster, "cluster", request.lang) if cluster is not None else None
        return await queries.node_detail(self.ctx, principal, name, str(cluster_uuid) if cluster_uuid else None)

    async def cpu_trend(self, request: RpcRequest):
        return await self._cpu_trend(request, with_node=False)

    async def cpu_trend_node(self, request: RpcRequest):
        return await self._cpu_trend(request, with_node=True)

    async def memory_usage(self, request: RpcRequest):
        return await self._memory_usage(request, with_node=False)

    async def memory_usage_node(self, request: RpcRequest):
        return await self._memory_usage(request, with_node=True)

    async def _cpu_trend(self, request: RpcRequest, *, with_node: bool):
        principal = _principal(request)
        query, cluster_uuid, node = _trend_query(request, with_node=with_node)
        return await queries.cpu_trend(
            self.ctx,
            principal,
            cluster_uuid=cluster_uuid,
            node_name=node,
            window=query.window,
            bucket=query.bucket,
            zone=_zone(query.tz, request.lang),
        )

    async def _memory_usage(self, request: RpcRequest, *, with_node: bool):
        principal = _principal(request)
        query, cluster_uuid, node = _trend_query(request, with_node=with_node)
        return await queries.memory_usage(
            self.ctx, principal, cluster_uuid=cluster_uuid, node_name=node, window=query.window
        )

    async def resolve_node(self, request: RpcRequest):
        body = parse(ResolveRequest, request.body, request.lang)
        node, cluster = await queries.find_node(self.ctx, request.principal, body.name.lower(), body.cluster)
        return views.node_ref(node, cluster)

    async def list_nodes_for_principal(self, request: RpcRequest) -> dict:
        body = parse(ClusterFilter, request.body, request.lang)
        return await queries.list_node_refs(self.ctx, request.principal, body.cluster)

    async def set_log_dir(self, request: RpcRequest) -> dict:
        """Set the one log folder of the caller's nodes, for the collector's set-log-dir."""
        caller = _caller(request)
        body = parse(LogDirChange, request.body, request.lang)
        return await logdirs.set_log_dir(self.ctx, caller, body)

    async def get_cluster(self, request: RpcRequest) -> dict:
        body = parse(ClusterFilter, request.body, request.lang)
        if body.cluster is None:
            raise ValidationFailed([field_error("cluster", "field_required", request.lang)])
        return await queries.get_cluster(self.ctx, request.principal, body.cluster)

    async def list_all_nodes(self, request: RpcRequest) -> dict:
        """Return every live cluster with its nodes, for the collector to reload at start."""
        return await queries.list_all(self.ctx)


def _trend_query(request: RpcRequest, *, with_node: bool) -> tuple[TrendQuery, uuid.UUID, str | None]:
    """Validate the metric query: cluster uuid, node name when required, window and bucket sizes."""
    query = parse(TrendQuery, request.params, request.lang)
    cluster_uuid = parse_uuid(query.cluster, "cluster", request.lang)
    node = parse_hostname(query.node, "node", request.lang) if with_node else None
    if query.bucket > query.window or math.ceil(query.window / query.bucket) > MAX_BUCKETS:
        raise ValidationFailed([field_error("bucket", "too_many_buckets", request.lang, limit=MAX_BUCKETS)])
    return query, cluster_uuid, node


def _zone(name: str, lang: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed([field_error("tz", "invalid_timezone", lang)]) from None
