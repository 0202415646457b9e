"""Account management (admins only)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.auth.schemas import OkResponse, UserCreateRequest, UserCreateResponse, UserListResponse, UserUpdateRequest
from services.gateway.config import API_PREFIX
from services.gateway.deps import AdminPrincipal
from services.gateway.forward import call, forward, to_response

router = APIRouter(prefix=API_PREFIX, tags=["users"])

ERRORS = {401: {"description": "invalid_token"}, 403: {"description": "not_admin"}}


@router.get("/users", response_model=UserListResponse, responses=ERRORS)
async def list_users(request: Request, principal: AdminPrincipal) -> Response:
    """List every account."""
    return await forward(request, "auth", "users.list", principal=principal)


@router.post("/users", response_model=UserCreateResponse, responses={**ERRORS, 409: {"description": "taken"}})
async def create_user(request: Request, body: UserCreateRequest, principal: AdminPrincipal) -> Response:
    """Create an account; without `password`, a one-time `initialPassword` is returned once."""
    return await forward(request, "auth", "users.create", principal=principal, body=body)


@router.patch(
    "/users/{username}",
    response_model=OkResponse,
    responses={**ERRORS, 404: {"description": "not_found"}, 409: {"description": "last_admin"}},
)
async def update_user(request: Request, username: str, body: UserUpdateRequest, principal: AdminPrincipal) -> Response:
    """Change an account's role or status; its current tokens stop working."""
    reply = await call(request, "auth", "users.update", principal=principal, body=body)
    if reply.status == 200:
        await request.app.state.token_state.refresh_user(username)
    return to_response(request, reply)


@router.delete(
    "/users/{username}",
    response_model=OkResponse,
    responses={**ERRORS, 404: {"description": "not_found"}, 409: {"description": "last_admin"}},
)
async def delete_user(request: Request, username: str, principal: AdminPrincipal) -> Response:
    """Delete an account; its tokens stop working at once."""
    reply = await call(request, "auth", "users.delete", principal=principal)
    if reply.status == 200:
        await request.app.state.token_state.refresh_user(username)
    return to_response(request, reply)
