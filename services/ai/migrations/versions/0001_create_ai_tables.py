"""Create the diagnoses, repairs, incident_tracks and chat_messages tables.

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

SCHEMA = "ai"


def upgrade() -> None:
    _create_diagnoses()
    _create_repairs()
    _create_incident_tracks()
    _create_chat_messages()


def _create_diagnoses() -> None:
    op.create_table(
        "diagnoses",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("incident_id", sa.String(64)),
        sa.Column("source_event_id", sa.String(64), unique=True),
        sa.Column("cluster", sa.String(100), nullable=False),
        sa.Column("node", sa.String(255), nullable=False, server_default=""),
        sa.Column("kind", sa.String(64)),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("diagnoser", sa.String(20), nullable=False),
        sa.Column("incident_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tokens_used", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("repair_status", sa.String(20)),
        sa.Column("requested_by", sa.Integer()),
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("diagnoser IN ('claude', 'offline')", name="ck_diagnoses_diagnoser"),
        schema=SCHEMA,
    )
    op.create_index("ix_diagnoses_cluster_created", "diagnoses", ["cluster", "created_at"], schema=SCHEMA)
    op.create_index("ix_diagnoses_incident_created", "diagnoses", ["incident_id", "created_at"], schema=SCHEMA)


def _create_repairs() -> None:
    op.create_table(
        "repairs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "diagnosis_id", sa.String(64), sa.ForeignKey(f"{SCHEMA}.diagnoses.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("incident_id", sa.String(64)),
        sa.Column("cluster", sa.String(100), nullable=False),
        sa.Column("cluster_uuid", sa.String(64)),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("node_uuid", sa.String(64)),
        sa.Column("action_id", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("params", JSONB(), nullable=False, server_default="{}"),
        sa.Column("safe", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("details", sa.Text(), nullable=False, server_default=""),
        sa.Column("exec_ids", JSONB(), nullable=False, server_default="[]"),
        sa.Column("decided_by", sa.String(50)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'rejected', 'skipped')", name="ck_repairs_status"
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_repairs_cluster_created", "repairs", ["cluster", "created_at"], schema=SCHEMA)


def _create_incident_tracks() -> None:
    op.create_table(
        "incident_tracks",
        sa.Column("incident_id", sa.String(64), primary_key=True),
        sa.Column("cluster", sa.String(100), nullable=False),
        sa.Column("diagnosed_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("resolved_since_diagnosis", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )


def _create_chat_messages() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_chat_messages_session", "chat_messages", ["session_id", "id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("chat_messages", "incident_tracks", "repairs", "diagnoses"):
        op.drop_table(table, schema=SCHEMA)
