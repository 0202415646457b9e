"""Create the incidents, log_records, processed_messages, engine_states and outbox tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "faults"


def upgrade() -> None:
    _create_incidents()
    _create_log_records()
    _create_processed_messages()
    _create_engine_states()
    _create_outbox()


def _create_incidents() -> None:
    empty_list = sa.text("'[]'::jsonb")
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(600), nullable=False),
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False, server_default="detected"),
        sa.Column("title_zh", sa.String(500), nullable=False),
        sa.Column("title_en", sa.String(500), nullable=False),
        sa.Column("title_custom", sa.String(500)),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("template_id", sa.String(128)),
        sa.Column("evidence_first", JSONB(), nullable=False, server_default=empty_list),
        sa.Column("evidence_recent", JSONB(), nullable=False, server_default=empty_list),
        sa.Column("source_files", JSONB(), nullable=False, server_default=empty_list),
        sa.Column("history", JSONB(), nullable=False, server_default=empty_list),
        sa.Column("event_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_event_at", sa.DateTime(timezone=True)),
        sa.Column("update_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.CheckConstraint("status IN ('active', 'acknowledged', 'resolved')", name="ck_incidents_status"),
        sa.CheckConstraint("origin IN ('detected', 'manual')", name="ck_incidents_origin"),
        schema=SCHEMA,
    )
    # At most one open incident per fingerprint: the database enforces the deduplication.
    op.create_index(
        "uq_incidents_open_fingerprint",
        "incidents",
        ["fingerprint"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
        schema=SCHEMA,
    )
    op.create_index("ix_incidents_fingerprint_resolved", "incidents", ["fingerprint", "resolved_at"], schema=SCHEMA)
    op.create_index("ix_incidents_cluster_created", "incidents", ["cluster", "created_at"], schema=SCHEMA)
    op.create_index("ix_incidents_created", "incidents", ["created_at"], schema=SCHEMA)
    op.create_index("ix_incidents_status_received", "incidents", ["status", "last_received_at"], schema=SCHEMA)


def _create_log_records() -> None:
    op.create_table(
        "log_records",
        sa.Column("log_id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("node_host", sa.String(255), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("log_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("info", sa.Text(), nullable=False),
        sa.Column("log_type", sa.String(64), nullable=False),
        sa.Column("source_file", sa.String(1000), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_log_records_time", "log_records", ["log_time", "log_id"], schema=SCHEMA)
    op.create_index("ix_log_records_cluster_time", "log_records", ["cluster", "log_time"], schema=SCHEMA)
    op.create_index("ix_log_records_node_time", "log_records", ["node_host", "log_time"], schema=SCHEMA)
    op.create_index("ix_log_records_level_time", "log_records", ["level", "log_time"], schema=SCHEMA)
    op.create_index("ix_log_records_received", "log_records", ["received_at"], schema=SCHEMA)


def _create_processed_messages() -> None:
    op.create_table(
        "processed_messages",
        sa.Column("key", sa.String(600), primary_key=True),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_processed_messages_stream_time", "processed_messages", ["stream", "processed_at"], schema=SCHEMA
    )


def _create_engine_states() -> None:
    op.create_table(
        "engine_states",
        sa.Column("cluster", sa.String(200), primary_key=True),
        sa.Column("node", sa.String(255), primary_key=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )


def _create_outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("msg_id", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(500)),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("outbox", "engine_states", "processed_messages", "log_records", "incidents"):
        op.drop_table(table, schema=SCHEMA)
