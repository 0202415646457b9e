"""Operations on clusters and nodes (read-log, cluster start and stop) and the exec log.

All of them are served by the collector, which checks the role and the cluster ownership
again and records every command it runs in the exec log.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.collector.exec_models import ExecLogCreate, ExecLogUpdate
from services.collector.ops_models import ReadLogRequest
from services.gateway.config import API_PREFIX
from services.gateway.deps import AdminPrincipal, CurrentPrincipal, OperatorPrincipal
from services.gateway.forward import forward
from services.gateway.routes.logs import REPLY_MARGIN_SECONDS, forward_with_timeout

router = APIRouter(prefix=API_PREFIX, tags=["operations"])

ERRORS = {
    401: {"description": "invalid_token"},
    403: {"description": "not_allowed"},
    404: {"description": "not_found"},
    422: {"description": "invalid fields, each named"},
}
# Cluster start and stop run one command per daemon, each with a timeout of up to 120 seconds.
CLUSTER_CONTROL_TIMEOUT_SECONDS = 900

LogId = Annotated[int, Path(ge=1, description="Exec log record id.")]


class ReadLogResponse(BaseModel):
    """The contract's camelCase fields."""

    execId: str
    exitCode: int | None
    lines: list[str]


class ClusterControlResponse(BaseModel):
    ok: bool
    cluster_uuid: str
    action: str
    logs: list[str]


class ExecLogItem(BaseModel):
    id: int
    exec_id: str
    from_user_id: int
    username: str | None
    cluster_name: str
    cluster_uuid: str | None
    node: str | None
    command_type: str
    command: str | None
    description: str | None
    fault_id: str | None
    actor: str
    exit_code: int | None
    execution_status: str | None
    duration_ms: int | None
    output_bytes: int | None
    truncated: bool
    start_time: str | None
    end_time: str | None


class ExecLogListResponse(BaseModel):
    items: list[ExecLogItem]
    total: int
    page: int
    size: int


class ExecLogCreated(BaseModel):
    ok: bool
    id: int


class OkResponse(BaseModel):
    ok: bool


@router.post("/ops/read-log", response_model=ReadLogResponse, responses=ERRORS)
async def read_log(request: Request, body: ReadLogRequest, principal: OperatorPrincipal) -> Response:
    """Read the last `lines` lines of a file in one of the node's log directories, filtered by `pattern`."""
    return await forward_with_timeout(
        request, "ops.read_log", principal, body, {}, timeout=body.timeout + REPLY_MARGIN_SECONDS
    )


@router.post("/ops/clusters/{uuid}/start", response_model=ClusterControlResponse, responses=ERRORS)
async def start_cluster(request: Request, uuid: str, principal: AdminPrincipal) -> Response:
    """Start the cluster's HDFS and YARN daemons (admins only); `logs` has the output lines."""
    return await forward_with_timeout(
        request, "ops.cluster_start", principal, None, {}, timeout=CLUSTER_CONTROL_TIMEOUT_SECONDS
    )


@router.post("/ops/clusters/{uuid}/stop", response_model=ClusterControlResponse, responses=ERRORS)
async def stop_cluster(request: Request, uuid: str, principal: AdminPrincipal) -> Response:
    """Stop the cluster's YARN and HDFS daemons (admins only); `logs` has the output lines."""
    return await forward_with_timeout(
        request, "ops.cluster_stop", principal, None, {}, timeout=CLUSTER_CONTROL_TIMEOUT_SECONDS
    )


@router.get("/exec-logs", response_model=ExecLogListResponse, responses=ERRORS)
async def list_exec_logs(
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
    cluster: Annotated[str | None, Query(max_length=100, description="Cluster name or uuid.")] = None,
) -> Response:
    """List command runs and manual records, newest first: all for admins, the caller's clusters for others."""
    params = {"page": page, "size": size, **({"cluster": cluster} if cluster else {})}
    return await forward(request, "collector", "exec_logs.list", principal=principal, params=params)


@router.post("/exec-logs", response_model=ExecLogCreated, responses=ERRORS)
async def create_exec_log(request: Request, body: ExecLogCreate, principal: OperatorPrincipal) -> Response:
    """Add a manual record; `from_user_id` must be the caller's id unless the caller is an admin."""
    return await forward(request, "collector", "exec_logs.create", principal=principal, body=body)


@router.put("/exec-logs/{log_id}", response_model=OkResponse, responses=ERRORS)
async def update_exec_log(
    request: Request, log_id: LogId, body: ExecLogUpdate, principal: OperatorPrincipal
) -> Response:
    """Change the description (and, for manual records, the times); a command run's result never changes."""
    return await forward(request, "collector", "exec_logs.update", principal=principal, body=body)


@router.delete("/exec-logs/{log_id}", response_model=OkResponse, responses=ERRORS)
async def delete_exec_log(request: Request, log_id: LogId, principal: AdminPrincipal) -> Response:
    """Delete a record (admins only)."""
    return await forward(request, "collector", "exec_logs.delete", principal=principal)
