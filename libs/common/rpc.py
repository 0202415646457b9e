"""Request/reply between the gateway and the services, on ``nats.micro``.

The gateway sends an ``RpcRequest`` envelope (the verified principal, parameters, body,
language, request id) to ``hfd.<service>.<operation>``; the service replies with an
``RpcReply`` (an HTTP-like status and a JSON body). Services trust only the principal in the
envelope, which only the gateway sets after checking the caller's token.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import nats.micro
from nats.aio.client import Client
from nats.errors import NoRespondersError, TimeoutError
from pydantic import BaseModel, ValidationError

from libs.common import metrics
from libs.common.db import database_unavailable
from libs.common.errors import ServiceError, Unavailable, ValidationFailed
from libs.common.field_errors import pydantic_field_error
from libs.common.logging import bind_request_id
from libs.common.names import Names

logger = logging.getLogger(__name__)

Role = Literal["admin", "operator", "observer"]
REQUEST_ID_HEADER = "Hfd-Request-Id"


class Principal(BaseModel):
    """The caller, as verified by the gateway from its access token."""

    user_id: int
    username: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class RpcRequest(BaseModel):
    """The envelope the gateway sends to a service endpoint."""

    principal: Principal | None = None
    params: dict[str, Any] = {}
    body: Any = None
    lang: Literal["zh", "en"] = "zh"
    request_id: str = ""
    client_address: str | None = None

    def parse_body(self, model: type[BaseModel]) -> Any:
        """Validate the body against ``model``, turning pydantic errors into contract errors."""
        return validate_model(model, self.body if self.body is not None else {}, self.lang)

    def parse_params(self, model: type[BaseModel]) -> Any:
        return validate_model(model, self.params, self.lang)


class RpcReply(BaseModel):
    """A service's reply: an HTTP-like status and the JSON body."""

    status: int = 200
    body: Any = None


Handler = Callable[[RpcRequest], Awaitable[Any]]


def validate_model(model: type[BaseModel], data: Any, lang: str) -> Any:
    """Validate ``data`` with ``model``; raise ``ValidationFailed`` naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        failures = [
            pydantic_field_error(item, ".".join(str(part) for part in item["loc"]) or "body", lang)
            for item in error.errors()
        ]
        raise ValidationFailed(failures) from None


def _encode(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


class RpcService:
    """A ``nats.micro`` service whose endpoints take ``RpcRequest`` and return JSON bodies.

    Replicas of a service share its endpoints through the micro queue group, so requests are
    spread over them.
    """

    def __init__(self, nc: Client, names: Names, service: str, version: str, description: str = "") -> None:
        self.nc = nc
        self.names = names
        self.service = service
        self.version = version
        self.description = description
        self._handlers: dict[str, Handler] = {}
        self._micro: nats.micro.Service | None = None

    def endpoint(self, operation: str) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``hfd.<service>.<operation>``."""

        def register(handler: Handler) -> Handler:
            self._handlers[operation] = handler
            return handler

        return register

    def add(self, operation: str, handler: Handler) -> None:
        self._handlers[operation] = handler

    def add_all(self, handlers: Mapping[str, Handler]) -> None:
        """Register each handler of ``handlers`` under its operation name."""
        for operation, handler in handlers.items():
            self.add(operation, handler)

    async def start(self) -> None:
        self._micro = await nats.micro.add_service(
            self.nc,
            name=self.names.service(self.service),
            version=self.version,
            description=self.description or f"hfd {self.service} service",
        )
        for operation, handler in self._handlers.items():
            await self._micro.add_endpoint(
                name=operation.replace(".", "-"),
                subject=self.names.rpc(self.service, operation),
                handler=self._wrap(operation, handler),
            )
        logger.info("rpc service started service=%s endpoints=%d", self.service, len(self._handlers))

    async def stop(self) -> None:
        if self._micro is not None:
            await self._micro.stop()
            self._micro = None
            logger.info("rpc service stopped service=%s", self.service)

    def _wrap(self, operation: str, handler: Handler) -> Callable[[nats.micro.Request], Awaitable[None]]:
        async def handle(msg: nats.micro.Request) -> None:
            started = time.perf_counter()
            reply = await self._dispatch(operation, handler, msg.data)
            try:
                await msg.respond(reply.model_dump_json().encode())
            except Exception as error:  # e.g. a reply over the server's max_payload
                logger.error("rpc reply not sent service=%s op=%s error=%s", self.service, operation, error)
                reply = RpcReply(status=500, body={"detail": "server_error"})
                await msg.respond(reply.model_dump_json().encode())
            metrics.RPC_HANDLED.labels(self.service, operation, str(reply.status)).inc()
            metrics.RPC_LATENCY.labels(self.service, operation).observe(time.perf_counter() - started)

        return handle

    async def _dispatch(self, operation: str, handler: Handler, data: bytes) -> RpcReply:
        try:
            request = RpcRequest.model_validate_json(data)
        except ValidationError:
            logger.warning("rpc request rejected: malformed envelope service=%s op=%s", self.service, operation)
            return RpcReply(status=400, body={"detail": "invalid_request"})

        bind_request_id(request.request_id)
        try:
            result = await handler(request)
        except ServiceError as error:
            return RpcReply(status=error.status_code, body=error.body())
        except Exception as error:
            if database_unavailable(error):
                logger.warning(
                    "rpc handler failed, database unavailable service=%s op=%s request_id=%s error=%r",
                    self.service,
                    operation,
                    request.request_id,
                    error,
                )
                return RpcReply(status=503, body=Unavailable().body())
            logger.exception(
                "rpc handler failed service=%s op=%s request_id=%s", self.service, operation, request.request_id
            )
            return RpcReply(status=500, body={"detail": "server_error"})

        if isinstance(result, RpcReply):
            return RpcReply(status=result.status, body=_encode(result.body))
        return RpcReply(status=200, body=_encode(result))


class RpcClient:
    """Sends ``RpcRequest`` envelopes and returns the service's ``RpcReply``."""

    def __init__(self, nc: Client, names: Names, timeout: float = 10.0) -> None:
        self.nc = nc
        self.names = names
        self.timeout = timeout

    async def call(
        self, service: str, operation: str, request: RpcRequest, *, timeout: float | None = None
    ) -> RpcReply:
        """Send ``request`` and return the reply; raise ``Unavailable`` when no replica replies in time."""
        subject = self.names.rpc(service, operation)
        payload = request.model_dump_json().encode()
        try:
            msg = await self.nc.request(subject, payload, timeout=timeout or self.timeout)
        except (NoRespondersError, TimeoutError) as error:
            logger.warning(
                "rpc call failed subject=%s request_id=%s error=%s",
                subject,
                request.request_id,
                type(error).__name__,
            )
            raise Unavailable() from error
        try:
            return RpcReply.model_validate_json(msg.data)
        except ValidationError:
            # nats.micro replies to an exception it caught itself with an empty body and error headers.
            logger.warning(
                "rpc reply unreadable subject=%s request_id=%s headers=%s", subject, request.request_id, msg.headers
            )
            return RpcReply(status=500, body={"detail": "server_error"})

    async def call_ok(self, service: str, operation: str, request: RpcRequest, **kwargs: Any) -> Any:
        """Like ``call``, but return the body of a 2xx reply and raise ``ServiceError`` otherwise."""
        reply = await self.call(service, operation, request, **kwargs)
        if reply.status >= 300:
            detail = reply.body.get("detail") if isinstance(reply.body, dict) else None
            raise ServiceError(detail if isinstance(detail, str) else "upstream_error", status_code=reply.status)
        return reply.body


def dumps(value: Any) -> bytes:
    """Encode an event or body as compact JSON bytes."""
    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    return json.dumps(value, separators=(",", ":"), default=str).encode()
