"""NATS endpoints of the auth service: ``hfd.auth.<operation>``, one per API operation.

Each handler validates the envelope's body or parameters with the models of
``services.auth.schemas`` and calls a flow. The gateway sets ``principal`` after verifying
the caller's token; handlers never read an identity from the body.
"""

from libs.common.errors import Unauthorized
from libs.common.rpc import RpcReply, RpcRequest, RpcService
from services.auth import accounts, audit, sessions
from services.auth.context import AuthContext
from services.auth.schemas import (
    AuditCreateRequest,
    AuditDeleteParams,
    AuditListQuery,
    LoginRequest,
    LogoutRequest,
    OkResponse,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    UserCreateRequest,
    UserUpdateRequest,
)


class AuthHandlers:
    """The endpoint functions, bound to one ``AuthContext``."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx

    def register(self, rpc: RpcService) -> None:
        """Add every endpoint to ``rpc``."""
        rpc.add_all(self.operations())

    def operations(self) -> dict:
        return {
            "health": self.health,
            "login": self.login,
            "register": self.register_user,
            "me": self.me,
            "password.change": self.change_password,
            "refresh": self.refresh,
            "logout": self.logout,
            "users.list": self.list_users,
            "users.create": self.create_user,
            "users.update": self.update_user,
            "users.delete": self.delete_user,
            "audit.list": self.list_audit,
            "audit.create": self.create_audit,
            "audit.delete": self.delete_audit,
        }

    async def health(self, request: RpcRequest) -> dict:
        """Report the service and its database, as the gateway's health endpoint shows them."""
        database = await self.ctx.db.ping()
        return {"status": "ok" if database == "connected" else "degraded", "database": database}

    async def login(self, request: RpcRequest):
        return await sessions.login(self.ctx, request.parse_body(LoginRequest))

    async def register_user(self, request: RpcRequest):
        return await sessions.register(self.ctx, request.parse_body(RegisterRequest), request.lang)

    async def me(self, request: RpcRequest):
        return await sessions.me(self.ctx, _principal(request))

    async def change_password(self, request: RpcRequest):
        body = request.parse_body(PasswordChangeRequest)
        return await sessions.change_password(self.ctx, _principal(request), body, request.lang)

    async def refresh(self, request: RpcRequest):
        return await sessions.refresh(self.ctx, request.parse_body(RefreshRequest))

    async def logout(self, request: RpcRequest):
        """Revoke the caller's token; the gateway sends its ``jti``, ``exp`` and ``sid`` claims as parameters."""
        principal = _principal(request)
        body = request.parse_body(LogoutRequest)
        jti, expires_at = request.params.get("jti"), request.params.get("exp")
        if not isinstance(jti, str) or not isinstance(expires_at, int):
            raise Unauthorized("invalid_token")
        session_id = request.params.get("sid")
        await sessions.logout(
            self.ctx,
            principal,
            jti=jti,
            expires_at=expires_at,
            session_id=session_id if isinstance(session_id, str) else None,
            refresh_token=body.refresh_token,
        )
        return OkResponse()

    async def list_users(self, request: RpcRequest):
        return await accounts.list_users(self.ctx, request.principal)

    async def create_user(self, request: RpcRequest):
        body = request.parse_body(UserCreateRequest)
        response = await accounts.create_user(self.ctx, request.principal, body, request.lang)
        return RpcReply(status=200, body=response.model_dump(mode="json", exclude_none=True))

    async def update_user(self, request: RpcRequest):
        body = request.parse_body(UserUpdateRequest)
        await accounts.update_user(self.ctx, request.principal, _username(request), body)
        return OkResponse()

    async def delete_user(self, request: RpcRequest):
        await accounts.delete_user(self.ctx, request.principal, _username(request))
        return OkResponse()

    async def list_audit(self, request: RpcRequest):
        return await audit.list_records(self.ctx, request.principal, request.parse_params(AuditListQuery))

    async def create_audit(self, request: RpcRequest):
        body = request.parse_body(AuditCreateRequest)
        return await audit.create_note(self.ctx, request.principal, body, request.request_id, request.lang)

    async def delete_audit(self, request: RpcRequest):
        params = request.parse_params(AuditDeleteParams)
        await audit.delete_record(self.ctx, request.principal, params.operation_id)
        return OkResponse()


def _principal(request: RpcRequest):
    if request.principal is None:
        raise Unauthorized("not_authenticated")
    return request.principal


def _username(request: RpcRequest) -> str:
    username = request.params.get("username")
    return username if isinstance(username, str) else ""
