"""The one way a gateway route reaches a service: HTTP request in, ``RpcRequest`` out, reply back as HTTP.

Adding a domain takes one module in ``routes/`` and one line in ``routes/__init__.py``.
The module's router carries the ``/api/v1`` prefix itself (``API_PREFIX`` of
``services.gateway.config``), so that metrics and audit records name the full route
template. Each route declares its path and method and the roles it admits, as a dependency of
``services.gateway.deps``. Its request model validates the body and documents it in the
OpenAPI schema. Then the route forwards to ``hfd.<service>.<operation>``::

    router = APIRouter(prefix=API_PREFIX, tags=["inventory"])

    @router.post("/clusters", response_model=ClusterCreated)
    async def create_cluster(request: Request, body: ClusterCreate, principal: OperatorPrincipal) -> Response:
        \"\"\"Register a cluster owned by the caller.\"\"\"
        return await forward(request, "inventory", "clusters.create", principal=principal, body=body)

``forward`` sends the verified principal, the path parameters plus the ``params`` the route
passes (its validated query values, for example), the body, the language, the request id and
the client address. The service's reply becomes the HTTP response with the same
status and body, and a string ``detail`` gets a localised ``message``. A service that does
not reply within ``HFD_GATEWAY_RPC_TIMEOUT_SECONDS`` (or the ``timeout`` a route passes, for
slow operations) gives 503 ``service_unavailable``.
Routes that must act on the reply (to update rate limits, for example) call ``call`` and
``to_response`` separately.
"""

from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from libs.common.errors import Unavailable, ValidationFailed, field_error
from libs.common.rpc import Principal, RpcReply, RpcRequest
from services.gateway.deps import client_address, language, request_id
from services.gateway.errors import error_response, service_unavailable


async def call(
    request: Request,
    service: str,
    operation: str,
    *,
    principal: Principal | None = None,
    body: BaseModel | dict | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> RpcReply:
    """Send the envelope for this request to ``hfd.<service>.<operation>`` and return the reply."""
    envelope = RpcRequest(
        principal=principal,
        params={**request.path_params, **(params or {})},
        body=body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else body,
        lang=language(request),
        request_id=request_id(request),
        client_address=client_address(request),
    )
    try:
        return await request.app.state.rpc.call(service, operation, envelope, timeout=timeout)
    except Unavailable:
        raise service_unavailable(service) from None
    except PydanticSerializationError:
        # JSON escapes such as "\ud800" decode to strings that UTF-8 cannot encode, and a
        # request model without length limits lets them through, so the envelope fails to encode.
        failures = [
            field_error(field, "invalid_unicode", envelope.lang) for field in unencodable_fields(envelope.body, ())
        ]
        if not failures:
            raise
        raise ValidationFailed(failures) from None


def unencodable_fields(value: Any, location: tuple[str, ...]) -> Iterator[str]:
    """Yield the name of each string in ``value`` that UTF-8 cannot encode; a bad key names its object."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield ".".join(location) or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            if next(unencodable_fields(key, location), None) is not None:
                yield ".".join(location) or "body"
                continue
            yield from unencodable_fields(item, (*location, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unencodable_fields(item, (*location, str(index)))


def to_response(request: Request, reply: RpcReply) -> Response:
    """Return the reply as the HTTP response, with the same status and body."""
    if reply.status >= 400:
        return error_response(reply.status, reply.body, language(request), request_id=request_id(request))
    return JSONResponse(reply.body, status_code=reply.status)


async def forward(
    request: Request,
    service: str,
    operation: str,
    *,
    principal: Principal | None = None,
    body: BaseModel | dict | None = None,
    params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> Response:
    """Call ``hfd.<service>.<operation>`` with this request and return its reply as the response."""
    reply = await call(request, service, operation, principal=principal, body=body, params=params, timeout=timeout)
    return to_response(request, reply)
