"""Hadoop log reading and free-text commands on a node, served by the collector.

Every log endpoint returns a bounded tail (``lines``, at most 5000) read over SSH when it is
called. ``POST /hadoop/nodes/{node_name}/execute/`` runs only commands of the collector's
policy: shell metacharacters give 400 and other commands 403 ``command_not_allowed``.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from libs.common.errors import Unavailable
from libs.common.rpc import Principal, RpcRequest
from services.collector.command_args import MAX_LINES
from services.collector.ops_models import ExecuteRequest
from services.gateway.config import API_PREFIX
from services.gateway.deps import CurrentPrincipal, OperatorPrincipal, client_address, language, request_id
from services.gateway.errors import service_unavailable
from services.gateway.forward import forward, to_response

router = APIRouter(prefix=API_PREFIX, tags=["hadoop logs"])

ERRORS = {
    401: {"description": "invalid_token"},
    403: {"description": "not_allowed"},
    404: {"description": "not_found (the field names the node, cluster or log type)"},
    422: {"description": "an invalid node name, log type or query value"},
    503: {"description": "node_unreachable or service_unavailable"},
}
# Seconds the gateway waits for a command beyond the command's own timeout.
REPLY_MARGIN_SECONDS = 15

NodeName = Annotated[str, Path(max_length=253, description="Host name of the node (RFC 1123).")]
LogTypeName = Annotated[str, Path(max_length=41, description="Log type such as namenode or datanode.")]
Lines = Annotated[int, Query(ge=1, le=MAX_LINES, description="Last lines to return.")]
ClusterFilter = Annotated[
    str | None, Query(max_length=100, description="Cluster name or uuid, when the node name is ambiguous.")
]


class NodesResponse(BaseModel):
    nodes: list[str]


class NodeLogResponse(BaseModel):
    node_name: str
    log_type: str
    log_content: str
    truncated: bool = Field(default=False, description="True when older lines were cut to keep the reply small.")
    error: str | None = None


class AllLogsResponse(BaseModel):
    logs: list[NodeLogResponse]


class LogFilesResponse(BaseModel):
    node_name: str
    log_files: list[str]


class ExecuteResponse(BaseModel):
    node_name: str
    command: str
    stdout: str
    stderr: str
    status: str
    exit_code: int | None = None
    exec_id: str | None = None
    truncated: bool = False


def _query(lines: int, cluster: str | None) -> dict:
    return {"lines": lines, **({"cluster": cluster} if cluster else {})}


@router.get("/hadoop/nodes/", response_model=NodesResponse, responses=ERRORS)
async def list_nodes(request: Request, principal: CurrentPrincipal, cluster: ClusterFilter = None) -> Response:
    """List the names of the caller's nodes."""
    return await forward(request, "collector", "logs.nodes", principal=principal, params=_query(1, cluster))


# The literal routes come before /hadoop/logs/{node_name}/{log_type}/, which would match them too.
# NOTE: so a node named "all" or "files" cannot be read through that route.
@router.get("/hadoop/logs/all/{log_type}/", response_model=AllLogsResponse, responses=ERRORS)
async def all_logs(
    request: Request,
    log_type: LogTypeName,
    principal: CurrentPrincipal,
    lines: Lines = 200,
    cluster: ClusterFilter = None,
) -> Response:
    """Read the last lines of the newest file of a log type on every node of the caller.

    Nodes are read concurrently; one that fails is listed with an `error` instead of failing the request.
    """
    return await forward(request, "collector", "logs.all", principal=principal, params=_query(lines, cluster))


@router.get("/hadoop/logs/files/{node_name}/", response_model=LogFilesResponse, responses=ERRORS)
async def log_files(
    request: Request, node_name: NodeName, principal: CurrentPrincipal, cluster: ClusterFilter = None
) -> Response:
    """List the files in a node's log directories."""
    return await forward(request, "collector", "logs.files", principal=principal, params=_query(1, cluster))


@router.get("/hadoop/logs/{node_name}/{log_type}/", response_model=NodeLogResponse, responses=ERRORS)
async def node_log(
    request: Request,
    node_name: NodeName,
    log_type: LogTypeName,
    principal: CurrentPrincipal,
    lines: Lines = 200,
    cluster: ClusterFilter = None,
) -> Response:
    """Read the last lines of a node's newest file of a log type."""
    return await forward(request, "collector", "logs.node_log", principal=principal, params=_query(lines, cluster))


@router.post(
    "/hadoop/nodes/{node_name}/execute/",
    response_model=ExecuteResponse,
    responses={**ERRORS, 400: {"description": "the command contains a shell metacharacter or an invalid argument"}},
)
async def execute(
    request: Request,
    node_name: NodeName,
    body: ExecuteRequest,
    principal: OperatorPrincipal,
    cluster: ClusterFilter = None,
) -> Response:
    """Run an allowed command on a node: operators run diagnostics, admins also service control."""
    params = {"cluster": cluster} if cluster else {}
    return await forward_with_timeout(
        request, "ops.execute", principal, body, params, timeout=body.timeout + REPLY_MARGIN_SECONDS
    )


async def forward_with_timeout(
    request: Request, operation: str, principal: Principal, body: BaseModel | None, params: dict, *, timeout: float
) -> Response:
    """Forward to the collector like ``forward``, waiting up to ``timeout`` seconds for the reply.

    NOTE: ``services.gateway.forward.call`` takes no timeout and waits the gateway's
    default, shorter than a command may run, so this builds the same envelope itself.
    """
    envelope = RpcRequest(
        principal=principal,
        params={**request.path_params, **params},
        body=body.model_dump(mode="json", by_alias=True) if body is not None else None,
        lang=language(request),
        request_id=request_id(request),
        client_address=client_address(request),
    )
    try:
        reply = await request.app.state.rpc.call("collector", operation, envelope, timeout=timeout)
    except Unavailable:
        raise service_unavailable("collector") from None
    return to_response(request, reply)
