"""Clusters, nodes and metric trends, served by the inventory service.

Request bodies are declared with ``SkipValidation`` so that the OpenAPI schema shows the
inventory's models while the inventory service validates them. The service names each
invalid field the way the client sent it (``nodes[0].ip_address``) and checks rules that
span fields (one SSH secret per node, unique host names). Query values reach the service as
strings for the same reason.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import SkipValidation

from services.gateway.config import API_PREFIX
from services.gateway.deps import CurrentPrincipal, OperatorPrincipal
from services.gateway.forward import forward
from services.inventory.schemas import (
    ClusterCreate,
    ClusterList,
    ClusterUpdate,
    Created,
    DiscoverOptions,
    DiscoverResponse,
    MemoryUsageResponse,
    NodeCreate,
    NodeDetail,
    NodeList,
    OkResponse,
    TrendResponse,
)

router = APIRouter(prefix=API_PREFIX, tags=["inventory"])

SERVICE = "inventory"
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not_authenticated or invalid_token"},
    403: {"description": "password_change_required"},
    404: {"description": "not_found: the cluster is unknown, deleted or not the caller's"},
    422: {"description": "invalid field, named in detail.errors[].field"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    403: {"description": "not_allowed: observers cannot change clusters"},
    409: {"description": "name or uuid already taken"},
    503: {"description": "collector_unavailable: nothing was changed"},
}

ClusterQuery = Annotated[str, Query(description="Cluster UUID.")]
NodeName = Annotated[str, Query(description="Node host name.")]
Window = Annotated[SkipValidation[int] | None, Query(description="Seconds of history, 60-604800; 3600 by default.")]
Bucket = Annotated[SkipValidation[int] | None, Query(description="Seconds per bucket, 10-86400; 300 by default.")]
TimeZone = Annotated[
    str | None, Query(description="IANA time zone of the HH:MM labels, such as Asia/Shanghai; UTC by default.")
]


def _query(**values: Any) -> dict[str, Any]:
    """Return the query values the client sent, leaving out those it did not."""
    return {key: value for key, value in values.items() if value is not None}


@router.get("/clusters", response_model=ClusterList, responses=READ_ERRORS)
async def list_clusters(request: Request, principal: CurrentPrincipal) -> Response:
    """List the caller's clusters (every cluster for an admin)."""
    return await forward(request, SERVICE, "clusters.list", principal=principal)


@router.post("/clusters", response_model=Created, responses=WRITE_ERRORS)
async def create_cluster(
    request: Request, body: Annotated[SkipValidation[ClusterCreate], Body()], principal: OperatorPrincipal
) -> Response:
    """Register a cluster and its nodes, owned by the caller; SSH secrets go to the collector only."""
    return await forward(request, SERVICE, "clusters.create", principal=principal, body=body)


@router.patch("/clusters/{uuid}", response_model=OkResponse, responses=WRITE_ERRORS)
async def update_cluster(
    request: Request, uuid: str, body: Annotated[SkipValidation[ClusterUpdate], Body()], principal: OperatorPrincipal
) -> Response:
    """Change a cluster's name, description or repair policy (off, suggest, auto)."""
    return await forward(request, SERVICE, "clusters.update", principal=principal, body=body)


@router.delete("/clusters/{uuid}", response_model=OkResponse, responses=WRITE_ERRORS)
async def delete_cluster(request: Request, uuid: str, principal: OperatorPrincipal) -> Response:
    """Stop collecting from a cluster and hide it; its nodes and metric history stay stored."""
    return await forward(request, SERVICE, "clusters.delete", principal=principal)


@router.post("/clusters/{uuid}/nodes", response_model=Created, responses=WRITE_ERRORS)
async def add_node(
    request: Request, uuid: str, body: Annotated[SkipValidation[NodeCreate], Body()], principal: OperatorPrincipal
) -> Response:
    """Add a node to a cluster; its SSH secret goes to the collector only."""
    return await forward(request, SERVICE, "clusters.nodes.add", principal=principal, body=body)


@router.post("/clusters/{uuid}/discover", response_model=DiscoverResponse, responses=WRITE_ERRORS)
async def discover_nodes(
    request: Request,
    uuid: str,
    principal: OperatorPrincipal,
    body: Annotated[SkipValidation[DiscoverOptions] | None, Body()] = None,
) -> Response:
    """Add the workers that the master node reports, using the master's SSH credentials.

    The optional ``worker_ssh_port`` sets the SSH port of the new workers; without it they get
    the master's port.
    """
    return await forward(request, SERVICE, "clusters.discover", principal=principal, body=body or {})


@router.get("/nodes", response_model=NodeList, responses=READ_ERRORS)
async def list_nodes(request: Request, cluster: ClusterQuery, principal: CurrentPrincipal) -> Response:
    """List a cluster's nodes with their status and latest usage."""
    return await forward(request, SERVICE, "nodes.list", principal=principal, params={"cluster": cluster})


@router.get(
    "/nodes/{name}", response_model=NodeDetail, responses={**READ_ERRORS, 409: {"description": "ambiguous_node"}}
)
async def get_node(
    request: Request,
    name: str,
    principal: CurrentPrincipal,
    cluster: Annotated[
        str | None, Query(description="Cluster UUID; required when several clusters have the name.")
    ] = None,
) -> Response:
    """Show a node's latest usage, status and heartbeat."""
    return await forward(request, SERVICE, "nodes.get", principal=principal, params=_query(cluster=cluster))


@router.get("/metrics/cpu_trend", response_model=TrendResponse, responses=READ_ERRORS)
async def cpu_trend(
    request: Request,
    cluster: ClusterQuery,
    principal: CurrentPrincipal,
    window: Window = None,
    bucket: Bucket = None,
    tz: TimeZone = None,
) -> Response:
    """Average CPU usage of the cluster's nodes per time bucket; null where no sample arrived."""
    params = _query(cluster=cluster, window=window, bucket=bucket, tz=tz)
    return await forward(request, SERVICE, "metrics.cpu_trend", principal=principal, params=params)


@router.get("/metrics/cpu_trend_node", response_model=TrendResponse, responses=READ_ERRORS)
async def cpu_trend_node(
    request: Request,
    cluster: ClusterQuery,
    node: NodeName,
    principal: CurrentPrincipal,
    window: Window = None,
    bucket: Bucket = None,
    tz: TimeZone = None,
) -> Response:
    """Average CPU usage of one node per time bucket; null where no sample arrived."""
    params = _query(cluster=cluster, node=node, window=window, bucket=bucket, tz=tz)
    return await forward(request, SERVICE, "metrics.cpu_trend_node", principal=principal, params=params)


@router.get("/metrics/memory_usage", response_model=MemoryUsageResponse, responses=READ_ERRORS)
async def memory_usage(
    request: Request, cluster: ClusterQuery, principal: CurrentPrincipal, window: Window = None
) -> Response:
    """Memory used and free in percent, averaged over each node's latest sample in the window."""
    params = _query(cluster=cluster, window=window)
    return await forward(request, SERVICE, "metrics.memory_usage", principal=principal, params=params)


@router.get("/metrics/memory_usage_node", response_model=MemoryUsageResponse, responses=READ_ERRORS)
async def memory_usage_node(
    request: Request, cluster: ClusterQuery, node: NodeName, principal: CurrentPrincipal, window: Window = None
) -> Response:
    """Memory used and free in percent from one node's latest sample in the window."""
    params = _query(cluster=cluster, node=node, window=window)
    return await forward(request, SERVICE, "metrics.memory_usage_node", principal=principal, params=params)
