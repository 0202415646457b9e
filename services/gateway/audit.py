"""Audit middleware: one ``AuditEvent`` per state-changing request, published to ``audit.gateway``.

Every POST, PUT, PATCH and DELETE that matches a route is recorded with its outcome, failures
and login attempts included. Request bodies are never read here, so passwords never reach
the trail; a login route names the attempted username through ``request.state``. Events go
through a bounded queue to a background publisher, so a slow or lost NATS connection never
delays or fails the HTTP response: the event is retried, then dropped, logged and counted.
"""

import asyncio
import logging
import uuid

from nats.js import JetStreamContext
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.common import metrics
from libs.common.events import AuditEvent
from libs.common.names import Names

logger = logging.getLogger(__name__)

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPERATION_ID_HEADER = b"x-operation-id"
RETRY_DELAY_SECONDS = 1.0

AUDIT_EVENTS = Counter(
    "hfd_gateway_audit_events_total",
    "Audit events by outcome: published, failed (NATS did not acknowledge) or dropped (queue full).",
    ["outcome"],
)


class AuditPublisher:
    """Publishes queued audit events to JetStream with ``Nats-Msg-Id`` set to the operation id."""

    def __init__(self, js: JetStreamContext, names: Names, *, queue_size: int, timeout: float, attempts: int) -> None:
        self.js = js
        self.subject = names.audit("gateway")
        self.stream = names.stream("AUDIT")
        self.timeout = timeout
        self.attempts = attempts
        self.queue: asyncio.Queue[AuditEvent] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task | None = None
        self._dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-publisher")

    async def stop(self, drain_seconds: float = 3.0) -> None:
        """Publish what is queued for up to ``drain_seconds``, then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.queue.join(), timeout=drain_seconds)
        except TimeoutError:
            logger.warning("audit events not published at shutdown count=%d", self.queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def submit(self, event: AuditEvent) -> None:
        """Queue ``event`` without waiting; when the queue is full, drop it and count it."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            AUDIT_EVENTS.labels("dropped").inc()
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                logger.error(
                    "audit event dropped: queue full operation_id=%s dropped_total=%d",
                    event.operation_id,
                    self._dropped,
                )

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self._publish(event)
            finally:
                self.queue.task_done()

    async def _publish(self, event: AuditEvent) -> None:
        payload = event.model_dump_json().encode()
        headers = {"Nats-Msg-Id": str(event.operation_id)}
        for attempt in range(1, self.attempts + 1):
            try:
                await self.js.publish(self.subject, payload, timeout=self.timeout, stream=self.stream, headers=headers)
            except Exception as error:
                if attempt == self.attempts:
                    AUDIT_EVENTS.labels("failed").inc()
                    logger.error(
                        "audit event not published operation_id=%s attempts=%d error=%s",
                        event.operation_id,
                        attempt,
                        type(error).__name__,
                    )
                    return
                await asyncio.sleep(RETRY_DELAY_SECONDS * attempt)
                continue
            AUDIT_EVENTS.labels("published").inc()
            metrics.EVENTS_PUBLISHED.labels("AUDIT").inc()
            return


class AuditMiddleware:
    """Pure ASGI middleware that records state-changing requests after their response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING_METHODS:
            await self.app(scope, receive, send)
            return

        operation_id = uuid.uuid4()
        state = scope.setdefault("state", {})
        state["operation_id"] = operation_id
        status = 500

        async def send_with_operation_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (OPERATION_ID_HEADER, str(operation_id).encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_operation_id)
        finally:
            self._record(scope, operation_id, status)

    def _record(self, scope: Scope, operation_id: uuid.UUID, status: int) -> None:
        route = scope.get("route")
        publisher = getattr(scope["app"].state, "audit", None)
        if route is None or publisher is None:
            return  # unknown paths change nothing and would only flood the trail

        state = scope.get("state", {})
        principal = state.get("principal")
        client = scope.get("client")
        event = AuditEvent(
            operation_id=operation_id,
            user_id=principal.user_id if principal else state.get("audit_user_id"),
            username=principal.username if principal else state.get("audit_username"),
            action=f"{scope['method']} {route.path}",
            target=scope["path"][:500],
            outcome="success" if status < 400 else "failure",
            status_code=status,
            request_id=state.get("request_id", ""),
            client_address=client[0] if client else None,
        )
        publisher.submit(event)
