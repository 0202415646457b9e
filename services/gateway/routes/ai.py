"""AI diagnoses, chat, and repair approvals, served by the AI service.

A diagnosis with the model and the repairs it runs can take much longer than other
requests, so these routes wait ``AI_RPC_TIMEOUT_SECONDS`` for the AI service instead of the
gateway's default RPC timeout.

Streaming chat (``stream: true`` with ``Accept: text/event-stream``) is served here. The
gateway requests the whole reply from the AI service, then sends it as server-sent events of
a few characters each (``data: {"content": ...}``), ending with ``data: [DONE]``. The model's
own token stream is not relayed, so the first event comes when the reply is complete.
"""

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from libs.common.errors import Unavailable
from libs.common.rpc import Principal, RpcReply, RpcRequest
from services.ai.schemas import ChatRequest, DiagnoseRepairRequest, DiagnoseRepairResponse, RepairDecisionBody
from services.gateway.config import API_PREFIX
from services.gateway.deps import CurrentPrincipal, OperatorPrincipal, client_address, language, request_id
from services.gateway.errors import service_unavailable
from services.gateway.forward import to_response

router = APIRouter(prefix=API_PREFIX, tags=["ai"])

AI_RPC_TIMEOUT_SECONDS = 300.0
STREAM_CHUNK_CHARS = 16
ERRORS = {401: {"description": "invalid_token"}, 403: {"description": "not_allowed"}}
NOT_FOUND = {404: {"description": "not_found"}}


class ChatReply(BaseModel):
    reply: str
    sessionId: str


class HistoryQuery(BaseModel):
    sessionId: str


class RepairsQuery(BaseModel):
    cluster: str | None = None
    status: str | None = None
    limit: int = 100


async def _call(
    request: Request,
    operation: str,
    principal: Principal,
    *,
    body: BaseModel | None = None,
    params: dict[str, Any] | None = None,
) -> RpcReply:
    envelope = RpcRequest(
        principal=principal,
        params={**request.path_params, **(params or {})},
        body=body.model_dump(mode="json", by_alias=True) if body is not None else None,
        lang=language(request),
        request_id=request_id(request),
        client_address=client_address(request),
    )
    try:
        return await request.app.state.rpc.call("ai", operation, envelope, timeout=AI_RPC_TIMEOUT_SECONDS)
    except Unavailable:
        raise service_unavailable("ai") from None


async def _forward(request: Request, operation: str, principal: Principal, **kwargs: Any) -> Response:
    return to_response(request, await _call(request, operation, principal, **kwargs))


@router.post(
    "/ai/diagnose-repair",
    response_model=DiagnoseRepairResponse,
    responses={
        **ERRORS,
        409: {"description": "cluster_repair_running: the repairs in `repairIds` (of `diagnosisId`) stay pending"},
    },
)
async def diagnose_repair(request: Request, body: DiagnoseRepairRequest, principal: CurrentPrincipal) -> Response:
    """Diagnose a cluster or node and run the repairs that the cluster's policy and your role allow."""
    return await _forward(request, "diagnose_repair", principal, body=body)


def _sse_events(reply: str) -> AsyncIterator[bytes]:
    async def events() -> AsyncIterator[bytes]:
        for start in range(0, len(reply), STREAM_CHUNK_CHARS):
            chunk = json.dumps({"content": reply[start : start + STREAM_CHUNK_CHARS]}, ensure_ascii=False)
            yield f"data: {chunk}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return events()


@router.post("/ai/chat", response_model=ChatReply, responses={**ERRORS, 503: {"description": "llm_unavailable"}})
async def chat(request: Request, body: ChatRequest, principal: CurrentPrincipal) -> Response:
    """Chat about Hadoop and your clusters; `stream: true` with `Accept: text/event-stream` streams the reply."""
    reply = await _call(request, "chat", principal, body=body)
    wants_stream = body.stream and "text/event-stream" in request.headers.get("accept", "")
    if reply.status >= 400 or not wants_stream:
        return to_response(request, reply)
    headers = {"Cache-Control": "no-cache", "X-Session-Id": str(reply.body.get("sessionId", ""))}
    return StreamingResponse(
        _sse_events(str(reply.body.get("reply", ""))), media_type="text/event-stream", headers=headers
    )


@router.get("/ai/history", responses=ERRORS)
async def history(request: Request, query: Annotated[HistoryQuery, Query()], principal: CurrentPrincipal) -> Response:
    """Return the messages of one of your chat sessions."""
    return await _forward(request, "history", principal, params=query.model_dump())


@router.get("/incidents/{id}/diagnosis", responses={**ERRORS, **NOT_FOUND})
async def incident_diagnosis(request: Request, id: str, principal: CurrentPrincipal) -> Response:
    """Return the newest diagnosis of an incident, in the language of Accept-Language."""
    return await _forward(request, "incidents.diagnosis", principal)


@router.get("/repairs", responses=ERRORS)
async def list_repairs(
    request: Request, query: Annotated[RepairsQuery, Query()], principal: CurrentPrincipal
) -> Response:
    """List pending and past repairs of your clusters, newest first."""
    # An empty cluster means no filter, as on the other list endpoints.
    params = {key: value for key, value in query.model_dump().items() if value not in (None, "")}
    return await _forward(request, "repairs.list", principal, params=params)


@router.post(
    "/repairs/{id}/approve",
    responses={
        **ERRORS,
        **NOT_FOUND,
        409: {"description": "repair_not_pending, or cluster_repair_running: the repair in `repairIds` stays pending"},
    },
)
async def approve_repair(request: Request, id: str, principal: OperatorPrincipal) -> Response:
    """Run a pending repair (admins any action, operators safe actions) and return its outcome."""
    return await _forward(request, "repairs.approve", principal)


@router.post("/repairs/{id}/reject", responses={**ERRORS, **NOT_FOUND, 409: {"description": "repair_not_pending"}})
async def reject_repair(
    request: Request, id: str, principal: OperatorPrincipal, body: RepairDecisionBody | None = None
) -> Response:
    """Reject a pending repair so that it never runs."""
    return await _forward(request, "repairs.reject", principal, body=body or RepairDecisionBody())
