"""Tables of the faults service, all in PostgreSQL schema ``faults``."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.db import schema_base
from libs.common.timeutil import utcnow

SCHEMA = "faults"
Base = schema_base(SCHEMA)

OPEN_STATUSES = ("active", "acknowledged")


class Incident(Base):
    """A fault on one node: the occurrences of one kind, deduplicated by fingerprint while open.

    ``first_seen`` and ``last_seen`` are log times: the record timestamps, or the receive
    time when a record has none. ``last_received_at`` is when this service last counted an
    occurrence, and the quiet period is measured from it.
    """

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(600))
    cluster: Mapped[str] = mapped_column(String(200))
    node: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16), default="detected")
    title_zh: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str] = mapped_column(String(500))
    title_custom: Mapped[str | None] = mapped_column(String(500))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    template_id: Mapped[str | None] = mapped_column(String(128))
    evidence_first: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    evidence_recent: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    source_files: Mapped[list[str]] = mapped_column(JSONB, default=list)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    update_pending: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        Index(
            "uq_incidents_open_fingerprint",
            "fingerprint",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_incidents_fingerprint_resolved", "fingerprint", "resolved_at"),
        Index("ix_incidents_cluster_created", "cluster", "created_at"),
        Index("ix_incidents_created", "created_at"),
        Index("ix_incidents_status_received", "status", "last_received_at"),
    )


class LogRecordRow(Base):
    """A WARN, ERROR or FATAL log record kept for ``GET /logs`` until its retention ends."""

    __tablename__ = "log_records"

    log_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(200))
    node_host: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(8))
    log_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    title: Mapped[str] = mapped_column(String(200))
    info: Mapped[str] = mapped_column(Text)
    log_type: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(1000))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_log_records_time", "log_time", "log_id"),
        Index("ix_log_records_cluster_time", "cluster", "log_time"),
        Index("ix_log_records_node_time", "node_host", "log_time"),
        Index("ix_log_records_level_time", "level", "log_time"),
        Index("ix_log_records_received", "received_at"),
    )


class ProcessedMessage(Base):
    """A JetStream message whose effects are committed; a redelivery of it is skipped."""

    __tablename__ = "processed_messages"

    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    stream: Mapped[str] = mapped_column(String(100))
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_processed_messages_stream_time", "stream", "processed_at"),)


class EngineState(Base):
    """The saved state of the detection engine of one (cluster, node).

    ``state`` contains the mined templates (``DetectionEngine.template_state``) and ``windows``
    the windows (``DetectionEngine.window_state``), NULL in rows saved before that column existed.
    """

    __tablename__ = "engine_states"

    cluster: Mapped[str] = mapped_column(String(200), primary_key=True)
    node: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    windows: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxEvent(Base):
    """A ``FaultEvent`` committed with its incident change and not yet acknowledged by JetStream."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(400))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))


class ConsumerFence(Base):
    """The single row whose epoch the faults replica running the consumers must hold to commit a batch."""

    __tablename__ = "consumer_fence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
