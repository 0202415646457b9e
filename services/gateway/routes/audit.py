"""The audit trail (sys-exec-logs): every user reads their own records, admins read all."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.auth.schemas import AuditCreateRequest, AuditCreateResponse, AuditListResponse, OkResponse
from services.gateway.config import API_PREFIX
from services.gateway.deps import AdminPrincipal, CurrentPrincipal, OperatorPrincipal
from services.gateway.forward import forward

router = APIRouter(prefix=API_PREFIX, tags=["audit"])

ERRORS = {401: {"description": "invalid_token"}, 403: {"description": "not_allowed"}}


@router.get("/sys-exec-logs", response_model=AuditListResponse, responses=ERRORS)
async def list_records(
    request: Request,
    principal: CurrentPrincipal,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """List audit records, newest first: all of them for admins, the caller's own for others."""
    return await forward(request, "auth", "audit.list", principal=principal, params={"page": page, "size": size})


@router.post("/sys-exec-logs", response_model=AuditCreateResponse, responses=ERRORS)
async def create_record(request: Request, body: AuditCreateRequest, principal: OperatorPrincipal) -> Response:
    """Write a note to the trail: admins for any user, operators for themselves."""
    return await forward(request, "auth", "audit.create", principal=principal, body=body)


@router.delete(
    "/sys-exec-logs/{operation_id}",
    response_model=OkResponse,
    responses={**ERRORS, 404: {"description": "not_found"}},
)
async def delete_record(request: Request, operation_id: uuid.UUID, principal: AdminPrincipal) -> Response:
    """Remove a record from listings (admins only); this request is itself recorded."""
    return await forward(request, "auth", "audit.delete", principal=principal)
