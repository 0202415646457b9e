"""The outermost gateway middleware: request ids, the body size limit, metrics and the last-resort 500.

Written as pure ASGI (not ``BaseHTTPMiddleware``) because it runs on every request and adds
only a few microseconds this way.
"""

import json
import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.common.i18n import message, negotiate_language
from libs.common.logging import bind_request_id

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# A client's request id is kept when it is a short token of safe characters; otherwise a new one is made.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

HTTP_REQUESTS = Counter(
    "hfd_gateway_requests_total", "HTTP requests by method, route template and status.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "hfd_gateway_request_seconds",
    "Time from request to the end of the response, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class EdgeMiddleware:
    """Assigns the request id, enforces ``max_body_bytes`` (413), records metrics and turns crashes into 500."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        bind_request_id(request_id)
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            if _declared_length(scope) > self.max_body_bytes:
                await self._reject_too_large(scope, send_with_request_id)
            else:
                await self.app(scope, self._limited(receive), send_with_request_id)
        except HTTPException as error:
            # Raised by receive_limited where no exception handler runs (outside a route).
            if response_started or error.status_code != 413:
                raise
            await self._reject_too_large(scope, send_with_request_id)
        except Exception:
            logger.exception("request failed method=%s path=%s", scope["method"], scope["path"])
            if not response_started:
                await _send_server_error(scope, send_with_request_id, request_id)
        finally:
            route = scope.get("route")
            template = route.path if route is not None else "unmatched"
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], template, str(status)).observe(time.perf_counter() - started)

    def _limited(self, receive: Receive) -> Receive:
        """Wrap ``receive`` to stop a body without Content-Length (chunked) once it passes the limit."""
        total = 0

        async def receive_limited() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_body_bytes:
                    raise HTTPException(413)
            return message

        return receive_limited

    async def _reject_too_large(self, scope: Scope, send: Send) -> None:
        lang = _language(scope)
        body = {
            "detail": "payload_too_large",
            "message": message("payload_too_large", lang, max_bytes=self.max_body_bytes),
        }
        await _send_json(send, 413, body, extra_headers=[(b"connection", b"close")])


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if REQUEST_ID_PATTERN.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _language(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"accept-language":
            return negotiate_language(value.decode("latin-1"))
    return "zh"


async def _send_server_error(scope: Scope, send: Send, request_id: str) -> None:
    lang = _language(scope)
    body = {"detail": "server_error", "message": message("server_error", lang, request_id=request_id)}
    await _send_json(send, 500, body)


async def _send_json(send: Send, status: int, body: dict, extra_headers: list | None = None) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
