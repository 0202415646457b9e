"""Log collectors and metric sampling controls, served by the collector service.

Path and query values reach the service as strings, so that the service validates them and
names the invalid field in its own messages. Reading needs any role; changes need the
admin or operator role, and the service checks ownership of each node through inventory.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.collector.schemas import CollectorsStatus, MessageReply, SamplerStatus, StartReply
from services.gateway.config import API_PREFIX
from services.gateway.deps import CurrentPrincipal, OperatorPrincipal
from services.gateway.forward import forward

router = APIRouter(prefix=API_PREFIX, tags=["collectors"])

SERVICE = "collector"
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not_authenticated or invalid_token"},
    403: {"description": "password_change_required"},
    404: {"description": "not_found: the node or cluster is unknown or not the caller's"},
    422: {"description": "invalid field, named in detail.errors[].field"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    403: {"description": "not_allowed: observers cannot change collectors"},
    409: {"description": "ambiguous_node: the name exists in several of the caller's clusters"},
}

Interval = Annotated[str | None, Query(description="Poll interval in seconds, 1-3600.")]
# An empty value means no filter, as on the other list endpoints (faults, logs, repairs, exec logs).
ClusterFilter = Annotated[str | None, Query(description="Cluster UUID or name; empty for every cluster.")]


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@router.get("/hadoop/collectors/status/", response_model=CollectorsStatus, responses=READ_ERRORS)
async def collectors_status(request: Request, principal: CurrentPrincipal, cluster: ClusterFilter = None) -> Response:
    """List the log collectors `<node>_<log_type>` of the caller's nodes: 1 when running, 0 when stopped."""
    return await forward(
        request, SERVICE, "collectors.status", principal=principal, params=_present(cluster=cluster or None)
    )


@router.post("/hadoop/collectors/start/{node_name}/{log_type}/", response_model=StartReply, responses=WRITE_ERRORS)
async def start_collector(
    request: Request, node_name: str, log_type: str, principal: OperatorPrincipal, interval: Interval = None
) -> Response:
    """Start collecting one log type of one node, polling every `interval` seconds (5 by default)."""
    return await forward(request, SERVICE, "collectors.start", principal=principal, params=_present(interval=interval))


@router.post("/hadoop/collectors/stop/all/", response_model=MessageReply, responses=WRITE_ERRORS)
async def stop_all_collectors(request: Request, principal: OperatorPrincipal) -> Response:
    """Stop every log collector of the caller's nodes."""
    return await forward(request, SERVICE, "collectors.stop_all", principal=principal)


@router.post("/hadoop/collectors/stop/{node_name}/{log_type}/", response_model=MessageReply, responses=WRITE_ERRORS)
async def stop_collector(request: Request, node_name: str, log_type: str, principal: OperatorPrincipal) -> Response:
    """Stop collecting one log type of one node; its file offsets are kept."""
    return await forward(request, SERVICE, "collectors.stop", principal=principal)


@router.post("/hadoop/collectors/set-interval/{interval}/", response_model=MessageReply, responses=WRITE_ERRORS)
async def set_collector_interval(request: Request, interval: str, principal: OperatorPrincipal) -> Response:
    """Set the poll interval, 1-3600 seconds, of every log collector of the caller's nodes."""
    return await forward(request, SERVICE, "collectors.set_interval", principal=principal)


@router.post("/hadoop/collectors/set-log-dir/{log_dir:path}", response_model=MessageReply, responses=WRITE_ERRORS)
async def set_collector_log_dir(request: Request, log_dir: str, principal: OperatorPrincipal) -> Response:
    """Set the log folder (an absolute path, URL-encoded or not) of every node the caller owns.

    `/`, system folders such as /etc and their parents get 422 `forbidden_log_dir` (docs/collector.md).
    """
    folder = log_dir.rstrip("/") if log_dir.rstrip("/") else "/"
    if not folder.startswith("/"):
        folder = "/" + folder
    return await forward(request, SERVICE, "collectors.set_log_dir", principal=principal, params={"log_dir": folder})


@router.post("/hadoop/collectors/start-by-cluster/{uuid}/", responses=WRITE_ERRORS)
async def start_cluster_collectors(
    request: Request, uuid: str, principal: OperatorPrincipal, interval: Interval = None
) -> Response:
    """Start collecting every log type of every node of a cluster."""
    return await forward(
        request, SERVICE, "collectors.start_by_cluster", principal=principal, params=_present(interval=interval)
    )


@router.get("/metrics/collectors/status", response_model=SamplerStatus, responses=READ_ERRORS)
async def sampler_status(request: Request, principal: CurrentPrincipal, cluster: ClusterFilter = None) -> Response:
    """Return whether metric sampling runs, its interval, and the last error of each failing host."""
    return await forward(
        request, SERVICE, "samplers.status", principal=principal, params=_present(cluster=cluster or None)
    )


@router.post("/metrics/collectors/start-by-cluster/{uuid}", responses=WRITE_ERRORS)
async def start_sampler(
    request: Request, uuid: str, principal: OperatorPrincipal, interval: Interval = None
) -> Response:
    """Start sampling CPU, memory and disk of a cluster's nodes every `interval` seconds."""
    return await forward(
        request, SERVICE, "samplers.start_by_cluster", principal=principal, params=_present(interval=interval)
    )


@router.post("/metrics/collectors/stop-by-cluster/{uuid}", responses=WRITE_ERRORS)
async def stop_sampler(request: Request, uuid: str, principal: OperatorPrincipal) -> Response:
    """Stop sampling the metrics of a cluster's nodes."""
    return await forward(request, SERVICE, "samplers.stop_by_cluster", principal=principal)
