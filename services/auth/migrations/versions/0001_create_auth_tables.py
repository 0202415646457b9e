"""Create the users, refresh_tokens and sys_exec_logs tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    _create_users()
    _create_refresh_tokens()
    _create_sys_exec_logs()


def _create_users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("full_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="enabled"),
        sa.Column("token_version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("last_login", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("role IN ('admin', 'operator', 'observer')", name="ck_users_role"),
        sa.CheckConstraint("status IN ('enabled', 'pending', 'disabled')", name="ck_users_status"),
        schema=SCHEMA,
    )
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True, schema=SCHEMA)
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True, schema=SCHEMA)


def _create_refresh_tokens() -> None:
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("ix_auth_refresh_tokens_user_id", "refresh_tokens", ["user_id"], schema=SCHEMA)
    op.create_index("ix_auth_refresh_tokens_family_id", "refresh_tokens", ["family_id"], schema=SCHEMA)


def _create_sys_exec_logs() -> None:
    op.create_table(
        "sys_exec_logs",
        sa.Column("operation_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Integer()),
        sa.Column("username", sa.String(50)),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("target", sa.String(500), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("client_address", sa.String(64)),
        sa.Column("operation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("deleted_by", sa.String(50)),
        schema=SCHEMA,
    )
    op.create_index("ix_sys_exec_logs_time", "sys_exec_logs", ["operation_time"], schema=SCHEMA)
    op.create_index("ix_sys_exec_logs_user_time", "sys_exec_logs", ["user_id", "operation_time"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("sys_exec_logs", schema=SCHEMA)
    op.drop_table("refresh_tokens", schema=SCHEMA)
    op.drop_table("users", schema=SCHEMA)
