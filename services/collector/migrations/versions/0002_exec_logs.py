"""Exec log: every command run on a node, by a person or by the AI, and manual records.

Revision ID: 0002_exec_logs
Revises: 0001_collector_state
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_exec_logs"
down_revision = "0001_collector_state"
branch_labels = None
depends_on = None

SCHEMA = "collector"


def upgrade() -> None:
    op.create_table(
        "exec_logs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("exec_id", sa.String(32), nullable=False, unique=True),
        sa.Column("from_user_id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(50), nullable=True),
        sa.Column("cluster_uuid", sa.String(36), nullable=True),
        sa.Column("cluster_name", sa.String(255), nullable=False),
        sa.Column("node_uuid", sa.String(36), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("command_type", sa.String(64), nullable=False),
        sa.Column("command", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("fault_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(8), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("execution_status", sa.String(16), nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=True),
        sa.Column("output_bytes", sa.BigInteger, nullable=True),
        sa.Column("truncated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_exec_logs_start_time", "exec_logs", ["start_time"], schema=SCHEMA)
    op.create_index("ix_exec_logs_cluster_uuid", "exec_logs", ["cluster_uuid"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("exec_logs", schema=SCHEMA)
