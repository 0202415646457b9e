"""Tables of the AI service, in the PostgreSQL schema ``ai``."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.db import schema_base

SCHEMA = "ai"
REPAIR_STATUSES = ("pending", "running", "succeeded", "failed", "rejected", "skipped")

Base = schema_base(SCHEMA)


class DiagnosisRecord(Base):
    """One diagnosis of an incident (or of an on-demand request), with both languages in ``content``."""

    __tablename__ = "diagnoses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str | None] = mapped_column(String(64))
    source_event_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    cluster: Mapped[str] = mapped_column(String(100), nullable=False)
    node: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    kind: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    diagnoser: Mapped[str] = mapped_column(String(20), nullable=False)
    incident_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    repair_status: Mapped[str | None] = mapped_column(String(20))
    requested_by: Mapped[int | None] = mapped_column(Integer)
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        Index("ix_diagnoses_cluster_created", "cluster", "created_at"),
        Index("ix_diagnoses_incident_created", "incident_id", "created_at"),
    )


class RepairRecord(Base):
    """A proposed repair action and what became of it."""

    __tablename__ = "repairs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    diagnosis_id: Mapped[str] = mapped_column(ForeignKey("ai.diagnoses.id", ondelete="CASCADE"), nullable=False)
    incident_id: Mapped[str | None] = mapped_column(String(64))
    cluster: Mapped[str] = mapped_column(String(100), nullable=False)
    cluster_uuid: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(255), nullable=False)
    node_uuid: Mapped[str | None] = mapped_column(String(64))
    action_id: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    safe: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="")
    exec_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    decided_by: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_repairs_cluster_created", "cluster", "created_at"),)


class IncidentTrack(Base):
    """What the service last did for an incident, to decide when to diagnose it again."""

    __tablename__ = "incident_tracks"

    incident_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(100), nullable=False)
    diagnosed_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    resolved_since_diagnosis: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ChatMessage(Base):
    """One message of a chat session."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_chat_messages_session", "session_id", "id"),)
