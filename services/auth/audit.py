"""The audit trail: a durable consumer of the ``AUDIT`` stream and the sys-exec-logs flows.

Services publish an ``AuditEvent`` for each state-changing request with ``Nats-Msg-Id`` set to
its ``operation_id``; this consumer stores each as one ``sys_exec_logs`` row. Inserts skip an
``operation_id`` already stored, so a redelivered or republished event is stored once.
"""

import asyncio
import logging
import uuid

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from libs.common.consumer import run_consumer
from libs.common.errors import Forbidden, NotFound, Unauthorized, ValidationFailed, field_error
from libs.common.events import AuditEvent
from libs.common.names import Names
from libs.common.rpc import Principal
from libs.common.timeutil import utcnow
from services.auth import service
from services.auth.accounts import require_admin
from services.auth.context import AuthContext
from services.auth.models import SysExecLog
from services.auth.schemas import AuditCreateRequest, AuditCreateResponse, AuditItem, AuditListQuery, AuditListResponse

logger = logging.getLogger(__name__)

AUDIT_DURABLE = "auth_audit"
MANUAL_SOURCE = "api"
NOTE_WRITERS = ("admin", "operator")


async def consume_audit_events(ctx: AuthContext, js: JetStreamContext, names: Names, stopping: asyncio.Event) -> None:
    """Store audit events from every service until ``stopping`` is set."""

    async def store(messages: list[Msg]) -> None:
        rows = [row for message in messages if (row := event_row(message)) is not None]
        async with ctx.db.session() as session:
            inserted = await service.insert_audit_records(session, rows=rows)
        logger.debug("audit events stored received=%d inserted=%d", len(messages), inserted)

    await run_consumer(
        js,
        stream=names.stream("AUDIT"),
        durable=names.durable(AUDIT_DURABLE),
        filter_subject=names.subject("audit.>"),
        handler=store,
        stopping=stopping,
        batch=ctx.settings.audit_batch,
    )


def event_row(message: Msg) -> dict | None:
    """Return the ``sys_exec_logs`` row of one message, or None (logged) when it is not a known event."""
    try:
        event = AuditEvent.model_validate_json(message.data)
    except ValidationError as error:
        logger.warning("audit event skipped: invalid subject=%s errors=%d", message.subject, error.error_count())
        return None
    return {
        "operation_id": event.operation_id,
        "user_id": event.user_id,
        "username": _text(event.username, 50),
        "description": _text(f"{event.action} -> {event.status_code} {event.outcome}", 1000),
        "action": _text(event.action, 200),
        "target": _text(event.target, 500),
        "outcome": _text(event.outcome, 20),
        "status_code": event.status_code,
        "source": _text(message.subject.rsplit(".", 1)[-1], 30),
        "request_id": _text(event.request_id, 64),
        "client_address": _text(event.client_address, 64),
        "operation_time": event.occurred_at,
    }


def _text(value: str | None, max_length: int) -> str | None:
    """Fit a client-influenced string to its column: no NUL (PostgreSQL rejects it), at most ``max_length``."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd")[:max_length]


def audit_item(record: SysExecLog) -> AuditItem:
    return AuditItem(
        operation_id=record.operation_id,
        user_id=record.user_id,
        username=record.username,
        description=record.description,
        operation_time=record.operation_time,
        action=record.action,
        target=record.target,
        outcome=record.outcome,
        status_code=record.status_code,
        source=record.source,
        request_id=record.request_id,
        client_address=record.client_address,
    )


async def list_records(ctx: AuthContext, principal: Principal | None, query: AuditListQuery) -> AuditListResponse:
    """Return a page of records: every user's to an admin, the caller's own to anyone else."""
    if principal is None:
        raise Unauthorized("not_authenticated")
    user_id = None if principal.is_admin else principal.user_id
    async with ctx.read_session() as session:
        records, total = await service.list_audit_records(session, user_id=user_id, page=query.page, size=query.size)
    return AuditListResponse(
        items=[audit_item(record) for record in records], total=total, page=query.page, size=query.size
    )


async def create_note(
    ctx: AuthContext, principal: Principal | None, body: AuditCreateRequest, request_id: str, lang: str
) -> AuditCreateResponse:
    """Store a record written through the API: admins for any user, operators for themselves."""
    if principal is None:
        raise Unauthorized("not_authenticated")
    if principal.role not in NOTE_WRITERS:
        raise Forbidden("not_allowed")
    if not principal.is_admin and body.user_id != principal.user_id:
        raise Forbidden("not_allowed")

    operation_id = uuid.uuid4()
    async with ctx.db.session() as session:
        subject = await service.get(session, user_id=body.user_id)
        if subject is None:
            raise ValidationFailed([field_error("user_id", "not_found", lang)])
        row = {
            "operation_id": operation_id,
            "user_id": subject.id,
            "username": subject.username,
            "description": body.description,
            "action": "note",
            "target": "",
            "outcome": "recorded",
            "status_code": None,
            "source": MANUAL_SOURCE,
            "request_id": request_id[:64],
            "client_address": None,
            "operation_time": utcnow(),
        }
        await service.insert_audit_records(session, rows=[row])

    logger.info("audit note stored operation_id=%s user_id=%d by=%s", operation_id, subject.id, principal.username)
    return AuditCreateResponse(operation_id=operation_id)


async def delete_record(ctx: AuthContext, principal: Principal | None, operation_id: uuid.UUID) -> None:
    """Hide a record from listings (admins only); the DELETE request is itself audited by the gateway."""
    async with ctx.db.session() as session:
        actor = await require_admin(session, principal)
        deleted = await service.soft_delete_audit_record(session, operation_id=operation_id, deleted_by=actor.username)
    if not deleted:
        raise NotFound()
    logger.info("audit record deleted operation_id=%s by=%s", operation_id, actor.username)
