"""FastAPI dependencies of the gateway routes, as ``Annotated`` aliases.

``CurrentPrincipal`` is the verified caller; ``require_roles("admin")`` narrows it to roles.
An account created with a one-time password gets 403 ``password_change_required`` everywhere
except on routes that take ``SessionPrincipal`` (reading the profile, changing the password,
logging out).
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.common.errors import Forbidden, Unauthorized
from libs.common.i18n import negotiate_language
from libs.common.rpc import Principal
from services.gateway.security import VerifiedToken

# Declares the bearer scheme in the OpenAPI document; the checks are ours.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/user/login.")


async def verified_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> VerifiedToken:
    """Verify the bearer token: 401 ``not_authenticated`` when absent, ``invalid_token`` when bad."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("not_authenticated")

    verified = await request.app.state.verifier.verify(credentials.credentials.strip())
    request.state.principal = verified.principal  # read by the audit middleware
    return verified


CurrentToken = Annotated[VerifiedToken, Depends(verified_token)]


async def session_principal(token: CurrentToken) -> Principal:
    return token.principal


async def current_principal(token: CurrentToken) -> Principal:
    if token.must_change_password:
        raise Forbidden("password_change_required")
    return token.principal


SessionPrincipal = Annotated[Principal, Depends(session_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str):
    """Return a dependency that admits callers with one of ``roles`` and gives others 403.

    The error is ``not_admin`` when only admins are admitted, as the API contract names it,
    and ``not_allowed`` otherwise.
    """
    code = "not_admin" if roles == ("admin",) else "not_allowed"

    async def check_role(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(code)
        return principal

    return check_role


AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
OperatorPrincipal = Annotated[Principal, Depends(require_roles("admin", "operator"))]


def language(request: Request) -> str:
    """Return ``en`` or ``zh`` from ``Accept-Language`` (Chinese unless English comes first)."""
    return negotiate_language(request.headers.get("accept-language"))


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


Language = Annotated[str, Depends(language)]
RequestId = Annotated[str, Depends(request_id)]
ClientAddress = Annotated[str | None, Depends(client_address)]
