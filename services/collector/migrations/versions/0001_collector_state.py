"""Collector state: nodes with encrypted secrets, collectors, file positions, metric samplers.

Revision ID: 0001_collector_state
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_collector_state"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "collector"


def _timestamps() -> list[sa.Column]:
    return [sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("node_uuid", sa.String(36), primary_key=True),
        sa.Column("cluster_uuid", sa.String(36), nullable=False, index=True),
        sa.Column("cluster_name", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, index=True),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("ssh_user", sa.String(64), nullable=False),
        sa.Column("secret", sa.LargeBinary, nullable=True),
        sa.Column("known_host_key", sa.Text, nullable=True),
        sa.Column("log_dirs", sa.JSON, nullable=False),
        sa.Column("log_dir_override", sa.Text, nullable=True),
        sa.Column("collect_new_types", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        schema=SCHEMA,
    )
    op.create_table(
        "collectors",
        sa.Column("node_uuid", sa.String(36), primary_key=True),
        sa.Column("log_type", sa.String(64), primary_key=True),
        sa.Column("running", sa.Boolean, nullable=False),
        sa.Column("interval", sa.Integer, nullable=False),
        *_timestamps(),
        schema=SCHEMA,
    )
    op.create_table(
        "file_positions",
        sa.Column("node_uuid", sa.String(36), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("log_type", sa.String(64), nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("pending_starts", sa.JSON, nullable=True),
        sa.Column("pending_end", sa.BigInteger, nullable=True),
        *_timestamps(),
        schema=SCHEMA,
    )
    op.create_table(
        "metric_samplers",
        sa.Column("cluster_uuid", sa.String(36), primary_key=True),
        sa.Column("running", sa.Boolean, nullable=False),
        sa.Column("interval", sa.Integer, nullable=False),
        *_timestamps(),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("metric_samplers", "file_positions", "collectors", "nodes"):
        op.drop_table(table, schema=SCHEMA)
