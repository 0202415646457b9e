"""The exec log: one row per command run on a node, by a person or by the AI, plus manual records.

A run's row is inserted with status ``running`` before the command starts and completed when it
ends, so a collector that dies mid-run still leaves a trace. Rows of real runs keep their command
and result immutable: the API may change only the description of such a row (see
``update_record``). Manual records (``command_type`` ``manual``) are what ``POST /exec-logs``
creates; their description and times may change.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.db import Database
from libs.common.errors import Forbidden, NotFound, Unauthorized, ValidationFailed, field_error
from libs.common.rpc import Principal, RpcRequest
from libs.common.timeutil import utcnow
from services.collector.db_base import Base
from services.collector.inventory_client import Inventory

logger = logging.getLogger(__name__)

MANUAL_COMMAND_TYPE = "manual"
EXECUTION_STATUSES = ("running", "success", "failed", "timeout", "unreachable")


class ExecLog(Base):
    """A command run on a node (or a manual record), with who ran it and what it returned."""

    __tablename__ = "exec_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    exec_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    from_user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    username: Mapped[str | None] = mapped_column(String(50))
    cluster_uuid: Mapped[str | None] = mapped_column(String(36))
    cluster_name: Mapped[str] = mapped_column(String(255), nullable=False)
    node_uuid: Mapped[str | None] = mapped_column(String(36))
    node: Mapped[str | None] = mapped_column(String(255))
    command_type: Mapped[str] = mapped_column(String(64), nullable=False)
    command: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    fault_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(8), nullable=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    execution_status: Mapped[str | None] = mapped_column(String(16))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    output_bytes: Mapped[int | None] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_exec_logs_start_time", "start_time"),
        Index("ix_exec_logs_cluster_uuid", "cluster_uuid"),
    )

    @property
    def is_manual(self) -> bool:
        return self.command_type == MANUAL_COMMAND_TYPE


def new_exec_id() -> str:
    """Return a 32-character hexadecimal id, the ``execId`` that responses carry."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class RunStart:
    """The facts of a run that are known before its command starts."""

    from_user_id: int
    username: str
    cluster_uuid: str
    cluster_name: str
    node_uuid: str
    node: str
    command_type: str
    command: str
    description: str | None
    fault_id: str | None
    actor: str


@dataclass(frozen=True)
class RunEnd:
    """The result of a run."""

    exit_code: int | None
    execution_status: str
    duration_ms: int
    output_bytes: int
    truncated: bool


async def start_run(session: AsyncSession, *, run: RunStart) -> ExecLog:
    """Insert the row of a run that is about to start, with status ``running``."""
    row = ExecLog(
        exec_id=new_exec_id(),
        from_user_id=run.from_user_id,
        username=run.username,
        cluster_uuid=run.cluster_uuid,
        cluster_name=run.cluster_name,
        node_uuid=run.node_uuid,
        node=run.node,
        command_type=run.command_type,
        command=run.command,
        description=run.description,
        fault_id=run.fault_id,
        actor=run.actor,
        execution_status="running",
        start_time=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def finish_run(session: AsyncSession, *, log_id: int, end: RunEnd) -> None:
    """Store the result of a run; a finished run's row is never changed again by the collector."""
    row = await session.get(ExecLog, log_id)
    if row is None or row.execution_status != "running":
        return
    row.exit_code = end.exit_code
    row.execution_status = end.execution_status
    row.duration_ms = end.duration_ms
    row.output_bytes = end.output_bytes
    row.truncated = end.truncated
    row.end_time = utcnow()


async def create_manual(
    session: AsyncSession,
    *,
    from_user_id: int,
    username: str | None,
    cluster_uuid: str | None,
    cluster_name: str,
    description: str | None,
    start_time: datetime | None,
    end_time: datetime | None,
) -> ExecLog:
    """Insert a manual record: a person's note of work done outside the collector."""
    row = ExecLog(
        exec_id=new_exec_id(),
        from_user_id=from_user_id,
        username=username,
        cluster_uuid=cluster_uuid,
        cluster_name=cluster_name,
        command_type=MANUAL_COMMAND_TYPE,
        description=description,
        actor="user",
        start_time=start_time or utcnow(),
        end_time=end_time,
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, *, log_id: int) -> ExecLog | None:
    return await session.get(ExecLog, log_id)


async def get_by_exec_id(session: AsyncSession, *, exec_id: str) -> ExecLog | None:
    return (await session.execute(select(ExecLog).where(ExecLog.exec_id == exec_id))).scalar_one_or_none()


async def list_page(
    session: AsyncSession,
    *,
    cluster_uuids: set[str] | None,
    cluster_uuid: str | None,
    page: int,
    size: int,
) -> tuple[list[ExecLog], int]:
    """Return one page of rows, newest first, and the total count.

    ``cluster_uuids`` limits the rows to those clusters (a non-admin's clusters); None means
    every cluster. ``cluster_uuid`` narrows to one cluster.
    """
    query = select(ExecLog)
    if cluster_uuids is not None:
        query = query.where(ExecLog.cluster_uuid.in_(cluster_uuids or {""}))
    if cluster_uuid is not None:
        query = query.where(ExecLog.cluster_uuid == cluster_uuid)

    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    ordered = query.order_by(ExecLog.start_time.desc().nulls_last(), ExecLog.id.desc())
    rows = (await session.execute(ordered.offset((page - 1) * size).limit(size))).scalars().all()
    return list(rows), total


async def update_record(session: AsyncSession, *, row: ExecLog, changes: dict[str, Any]) -> None:
    """Apply ``changes`` (description, start_time, end_time); callers check what a row allows."""
    for name in ("description", "start_time", "end_time"):
        if name in changes:
            setattr(row, name, changes[name])


async def delete_record(session: AsyncSession, *, log_id: int) -> bool:
    result = await session.execute(delete(ExecLog).where(ExecLog.id == log_id))
    return result.rowcount > 0


def to_item(row: ExecLog) -> dict[str, Any]:
    """Return the API form of a row: the contract's fields and the web client's extra ones."""
    return {
        "id": row.id,
        "exec_id": row.exec_id,
        "from_user_id": row.from_user_id,
        "username": row.username,
        "cluster_name": row.cluster_name,
        "cluster_uuid": row.cluster_uuid,
        "node": row.node,
        "command_type": row.command_type,
        "command": row.command,
        "description": row.description,
        "fault_id": row.fault_id,
        "actor": row.actor,
        "exit_code": row.exit_code,
        "execution_status": row.execution_status,
        "duration_ms": row.duration_ms,
        "output_bytes": row.output_bytes,
        "truncated": row.truncated,
        "start_time": _iso(row.start_time),
        "end_time": _iso(row.end_time),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- API ---------------------------------------------------------------------------------


def _as_utc(value: datetime | None) -> datetime | None:
    """Read a time without an offset as UTC, as the contract's ISO strings usually are."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


Moment = Annotated[datetime, AfterValidator(_as_utc)]


class ExecLogQuery(BaseModel):
    """Query of ``GET /exec-logs``."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    size: int = Field(default=10, ge=1, le=100)
    cluster: str | None = Field(default=None, min_length=1, max_length=100, description="Cluster name or uuid.")


class ExecLogCreate(BaseModel):
    """Body of ``POST /exec-logs``: a manual record of work on a cluster."""

    model_config = ConfigDict(extra="forbid")

    from_user_id: int = Field(ge=0, le=2_147_483_647)
    cluster_name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    start_time: Moment | None = None
    end_time: Moment | None = None


class ExecLogUpdate(BaseModel):
    """Body of ``PUT /exec-logs/{log_id}``; null leaves a field unchanged, and any other field is rejected."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=2000)
    start_time: Moment | None = None
    end_time: Moment | None = None


def _principal(request: RpcRequest, *roles: str) -> Principal:
    if request.principal is None:
        raise Unauthorized("not_authenticated")
    if roles and request.principal.role not in roles:
        raise Forbidden("not_admin" if roles == ("admin",) else "not_allowed")
    return request.principal


def _log_id(request: RpcRequest) -> int:
    raw = str(request.params.get("log_id", ""))
    if not raw.isdigit() or not 1 <= int(raw) <= 2**63 - 1:
        raise ValidationFailed([field_error("log_id", "invalid_value", request.lang)])
    return int(raw)


def _check_times(start: datetime | None, end: datetime | None, lang: str) -> None:
    if start is not None and end is not None and end < start:
        raise ValidationFailed([field_error("end_time", "end_before_start", lang)])


class ExecLogHandlers:
    """Endpoints of the exec log: ``exec_logs.list``, ``.create``, ``.update`` and ``.delete``.

    Admins see and change every record. Other callers see the records of the clusters
    inventory maps to them, and admins and operators may add manual records and edit
    descriptions there.
    """

    def __init__(self, db: Database, inventory: Inventory) -> None:
        self.db = db
        self.inventory = inventory

    def operations(self) -> dict:
        return {
            "exec_logs.list": self.list_logs,
            "exec_logs.create": self.create_log,
            "exec_logs.update": self.update_log,
            "exec_logs.delete": self.delete_log,
        }

    async def list_logs(self, request: RpcRequest) -> dict:
        """List records newest first, one page at a time, with the total count."""
        principal = _principal(request)
        query: ExecLogQuery = request.parse_params(ExecLogQuery)
        visible = None if principal.is_admin else await self.inventory.visible_cluster_uuids(request)
        cluster_uuid = None
        if query.cluster is not None:
            cluster = await self.inventory.get_cluster(
                request, cluster=query.cluster, principal=principal, field="cluster"
            )
            cluster_uuid = str(cluster["uuid"])

        async with self.db.session() as session:
            rows, total = await list_page(
                session, cluster_uuids=visible, cluster_uuid=cluster_uuid, page=query.page, size=query.size
            )
        return {"items": [to_item(row) for row in rows], "total": total, "page": query.page, "size": query.size}

    async def create_log(self, request: RpcRequest) -> dict:
        """Add a manual record; only admins may write one in another user's name."""
        principal = _principal(request, "admin", "operator")
        body: ExecLogCreate = request.parse_body(ExecLogCreate)
        if body.from_user_id != principal.user_id and not principal.is_admin:
            raise ValidationFailed([field_error("from_user_id", "from_user_not_caller", request.lang)], status_code=403)
        _check_times(body.start_time, body.end_time, request.lang)
        cluster = await self.inventory.get_cluster(
            request, cluster=body.cluster_name, principal=principal, field="cluster_name"
        )

        async with self.db.session() as session:
            row = await create_manual(
                session,
                from_user_id=body.from_user_id,
                username=principal.username if body.from_user_id == principal.user_id else None,
                cluster_uuid=str(cluster["uuid"]),
                cluster_name=cluster.get("name", body.cluster_name),
                description=body.description,
                start_time=body.start_time,
                end_time=body.end_time,
            )
            log_id = row.id
        logger.info("exec log record added id=%d cluster=%s user=%s", log_id, body.cluster_name, principal.username)
        return {"ok": True, "id": log_id}

    async def update_log(self, request: RpcRequest) -> dict:
        """Change a record's description, and the times of a manual record.

        The command, result and times of a real run are facts the collector measured, so a
        request that tries to change its times gets 422 ``run_times_immutable``.
        """
        principal = _principal(request, "admin", "operator")
        log_id = _log_id(request)
        body: ExecLogUpdate = request.parse_body(ExecLogUpdate)
        # null means "unchanged": the gateway forwards every field of the model, set or not.
        changes = {name: value for name, value in body.model_dump(exclude_unset=True).items() if value is not None}
        visible = None if principal.is_admin else await self.inventory.visible_cluster_uuids(request)

        async with self.db.session() as session:
            row = await get(session, log_id=log_id)
            if row is None or (visible is not None and row.cluster_uuid not in visible):
                raise NotFound()
            if not row.is_manual:
                for name in ("start_time", "end_time"):
                    if name in changes:
                        raise ValidationFailed([field_error(name, "run_times_immutable", request.lang)])
            _check_times(changes.get("start_time", row.start_time), changes.get("end_time", row.end_time), request.lang)
            await update_record(session, row=row, changes=changes)
        logger.info("exec log record updated id=%d user=%s fields=%s", log_id, principal.username, sorted(changes))
        return {"ok": True}

    async def delete_log(self, request: RpcRequest) -> dict:
        """Delete a record (admins only)."""
        principal = _principal(request, "admin")
        log_id = _log_id(request)
        async with self.db.session() as session:
            deleted = await delete_record(session, log_id=log_id)
        if not deleted:
            raise NotFound()
        logger.info("exec log record deleted id=%d user=%s", log_id, principal.username)
        return {"ok": True}
