"""Tables of the auth service, in the PostgreSQL schema ``auth``."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.db import schema_base

SCHEMA = "auth"
ROLES = ("admin", "operator", "observer")
USER_STATUSES = ("enabled", "pending", "disabled")

Base = schema_base(SCHEMA)


class User(Base):
    """An account. Only ``enabled`` accounts can log in; ``token_version`` ends old tokens when bumped."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(50), nullable=False)
    email: Mapped[str] = mapped_column(String(100), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    full_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="enabled")
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        Index("uq_users_username_lower", func.lower(username), unique=True),
        Index("uq_users_email_lower", func.lower(email), unique=True),
        CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),
        CheckConstraint(f"status IN {USER_STATUSES}", name="ck_users_status"),
    )

    @property
    def is_active(self) -> bool:
        return self.status == "enabled"


class RefreshToken(Base):
    """One issued refresh token, stored as its SHA-256 hash.

    Tokens rotated from one login share a ``family_id``. Presenting a token that was already
    used revokes the whole family, because only a stolen copy would be replayed.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_auth_refresh_tokens_user_id", "user_id"),
        Index("ix_auth_refresh_tokens_family_id", "family_id"),
    )


class SysExecLog(Base):
    """One audit record: a state-changing request, or a note written through the API.

    Deleting a record through the API only sets ``deleted_at``, so a redelivered event with the
    same ``operation_id`` cannot bring it back and the deletion stays traceable.
    """

    __tablename__ = "sys_exec_logs"

    operation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(String(200), nullable=False)
    target: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(30), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    client_address: Mapped[str | None] = mapped_column(String(64))
    operation_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(50))

    __table_args__ = (
        Index("ix_sys_exec_logs_time", "operation_time"),
        Index("ix_sys_exec_logs_user_time", "user_id", "operation_time"),
    )
