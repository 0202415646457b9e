"""Faults (incidents) and the recent WARN/ERROR/FATAL log records, served by the faults service."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.faults.schemas import (
    FaultCreate,
    FaultDetail,
    FaultList,
    FaultQuery,
    FaultUpdate,
    LogList,
    LogQuery,
    OkReply,
)
from services.gateway.config import API_PREFIX
from services.gateway.deps import CurrentPrincipal, OperatorPrincipal
from services.gateway.forward import forward

router = APIRouter(prefix=API_PREFIX, tags=["faults"])

ERRORS = {401: {"description": "invalid_token"}, 403: {"description": "not_allowed"}}
NOT_FOUND = {404: {"description": "not_found"}}


def _params(query: FaultQuery | LogQuery) -> dict:
    return query.model_dump(mode="json", exclude_none=True)


@router.get("/faults", response_model=FaultList, responses=ERRORS)
async def list_faults(request: Request, query: Annotated[FaultQuery, Query()], principal: CurrentPrincipal) -> Response:
    """List incidents of the caller's clusters, newest first; admins see every cluster."""
    return await forward(request, "faults", "faults.list", principal=principal, params=_params(query))


@router.get("/faults/{fid}", response_model=FaultDetail, responses={**ERRORS, **NOT_FOUND})
async def get_fault(request: Request, fid: str, principal: CurrentPrincipal) -> Response:
    """Return one incident with its evidence records, source files and state history."""
    return await forward(request, "faults", "faults.get", principal=principal)


@router.post("/faults", response_model=OkReply, responses={**ERRORS, 409: {"description": "fault_id_taken"}})
async def create_fault(request: Request, body: FaultCreate, principal: OperatorPrincipal) -> Response:
    """Report a fault by hand (admins and operators); `type` is a catalog kind or `manual`."""
    return await forward(request, "faults", "faults.create", principal=principal, body=body)


@router.put("/faults/{fid}", response_model=OkReply, responses={**ERRORS, **NOT_FOUND})
async def update_fault(request: Request, fid: str, body: FaultUpdate, principal: OperatorPrincipal) -> Response:
    """Change an incident's status (active, acknowledged, resolved) or title (admins and operators)."""
    return await forward(
        request, "faults", "faults.update", principal=principal, body=body.model_dump(mode="json", exclude_none=True)
    )


@router.delete("/faults/{fid}", response_model=OkReply, responses={**ERRORS, **NOT_FOUND})
async def delete_fault(request: Request, fid: str, principal: OperatorPrincipal) -> Response:
    """Delete an incident (admins and operators); an open one is announced as resolved first."""
    return await forward(request, "faults", "faults.delete", principal=principal)


@router.get("/logs", response_model=LogList, responses=ERRORS)
async def list_logs(request: Request, query: Annotated[LogQuery, Query()], principal: CurrentPrincipal) -> Response:
    """List recent WARN, ERROR and FATAL records of the caller's clusters, newest first."""
    return await forward(request, "faults", "logs.list", principal=principal, params=_params(query))
