"""Login, registration, the caller's profile and password, token refresh and logout."""

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.auth.schemas import (
    LoginRequest,
    LoginResponse,
    LogoutRequest,
    MeResponse,
    OkResponse,
    PasswordChangeRequest,
    PasswordChangeResponse,
    RefreshRequest,
    RefreshResponse,
    RegisterRequest,
)
from services.gateway.config import API_PREFIX
from services.gateway.deps import ClientAddress, CurrentToken, SessionPrincipal
from services.gateway.forward import call, forward, to_response

router = APIRouter(prefix=API_PREFIX, tags=["auth"])

ERRORS = {401: {"description": "Missing, invalid, expired or revoked token"}}


@router.post(
    "/user/login",
    response_model=LoginResponse,
    responses={401: {"description": "invalid_credentials"}, 429: {"description": "too_many_attempts"}},
)
async def login(request: Request, body: LoginRequest, address: ClientAddress) -> Response:
    """Log in with username and password; returns an access token and a refresh token."""
    return await _login(request, body, address)


@router.post("/login", response_model=LoginResponse, include_in_schema=False)
async def login_alias(request: Request, body: LoginRequest, address: ClientAddress) -> Response:
    """Same as POST /user/login, at the path the contract's authentication section names."""
    return await _login(request, body, address)


async def _login(request: Request, body: LoginRequest, address: ClientAddress) -> Response:
    limiter = request.app.state.limiter
    request.state.audit_username = body.username[:50]
    attempt = await limiter.check_login(body.username, address or "")

    try:
        reply = await call(request, "auth", "login", body=body)
    except Exception:
        await limiter.finish_login(attempt, None)
        raise
    await limiter.finish_login(attempt, reply.status)
    if reply.status == 200:
        request.state.audit_user_id = reply.body["user"]["id"]
    return to_response(request, reply)


@router.post(
    "/user/register",
    response_model=LoginResponse,
    responses={409: {"description": "username or email taken"}, 422: {"description": "invalid fields"}},
)
async def register(request: Request, body: RegisterRequest, address: ClientAddress) -> Response:
    """Create an observer account and log it in."""
    request.state.audit_username = body.username
    await request.app.state.limiter.check_registration(address or "")
    reply = await call(request, "auth", "register", body=body)
    if reply.status == 200:
        request.state.audit_user_id = reply.body["user"]["id"]
    return to_response(request, reply)


@router.get("/user/me", response_model=MeResponse, responses=ERRORS)
async def me(request: Request, principal: SessionPrincipal) -> Response:
    """Return the caller's account."""
    return await forward(request, "auth", "me", principal=principal)


@router.patch("/user/password", response_model=PasswordChangeResponse, responses=ERRORS)
async def change_password(request: Request, body: PasswordChangeRequest, principal: SessionPrincipal) -> Response:
    """Change the caller's password; ends the caller's other tokens and returns a new pair."""
    reply = await call(request, "auth", "password.change", principal=principal, body=body)
    if reply.status == 200:
        await request.app.state.token_state.refresh_user(principal.username)
    return to_response(request, reply)


@router.post("/refresh", response_model=RefreshResponse, responses={401: {"description": "invalid_token"}})
async def refresh(request: Request, body: RefreshRequest) -> Response:
    """Exchange a refresh token for a new pair; each refresh token works once."""
    return await forward(request, "auth", "refresh", body=body)


@router.post("/logout", response_model=OkResponse, responses=ERRORS)
async def logout(
    request: Request, token: CurrentToken, principal: SessionPrincipal, body: LogoutRequest | None = None
) -> Response:
    """Revoke the caller's access token and the refresh tokens of its session."""
    params = {"jti": token.jti, "exp": token.expires_at, "sid": token.session_id}
    reply = await call(request, "auth", "logout", principal=principal, body=body or LogoutRequest(), params=params)
    if reply.status == 200:
        token_state = request.app.state.token_state
        token_state.revoke_locally(token.jti, token.expires_at)
        if token.session_id is not None:
            # Every token of the family was issued by now, so each expires within one lifetime from now.
            lifetime = token.expires_at - token.issued_at
            token_state.revoke_family_locally(token.session_id, int(time.time()) + lifetime)
    return to_response(request, reply)
