"""Create the clusters, cluster_owners, nodes and metric_samples tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "inventory"
HEALTH_CHECK = "IN ('healthy', 'warning', 'unhealthy', 'unknown')"


def upgrade() -> None:
    _create_clusters()
    _create_cluster_owners()
    _create_nodes()
    _create_metric_samples()


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _create_clusters() -> None:
    op.create_table(
        "clusters",
        sa.Column("uuid", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(50), nullable=False, server_default="hadoop"),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("host", sa.String(253)),
        sa.Column("ip", sa.String(45)),
        sa.Column("declared_node_count", sa.Integer()),
        sa.Column("health_status", sa.String(20), nullable=False, server_default="unknown"),
        sa.Column("repair_policy", sa.String(10), nullable=False, server_default="suggest"),
        sa.Column("config_info", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_by", sa.BigInteger()),
        *_timestamps(),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(f"health_status {HEALTH_CHECK}", name="clusters_health_status_check"),
        sa.CheckConstraint("repair_policy IN ('off', 'suggest', 'auto')", name="clusters_repair_policy_check"),
        schema=SCHEMA,
    )
    op.create_index(
        "clusters_name_live_key",
        "clusters",
        ["name"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
        schema=SCHEMA,
    )


def _create_cluster_owners() -> None:
    op.create_table(
        "cluster_owners",
        sa.Column("user_id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "cluster_uuid",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.clusters.uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("cluster_owners_cluster_idx", "cluster_owners", ["cluster_uuid"], schema=SCHEMA)


def _create_nodes() -> None:
    op.create_table(
        "nodes",
        sa.Column("uuid", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "cluster_uuid", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.clusters.uuid"), nullable=False
        ),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
        sa.Column("ssh_port", sa.Integer(), nullable=False, server_default="22"),
        sa.Column("ssh_user", sa.String(32), nullable=False),
        sa.Column("log_dirs", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("roles", postgresql.ARRAY(sa.String(32)), nullable=False, server_default="{}"),
        sa.Column("source", sa.String(12), nullable=False, server_default="registered"),
        sa.Column(
            "credentials_from",
            postgresql.UUID(as_uuid=True),
            comment="Node whose SSH credentials the collector uses for this discovered node.",
        ),
        sa.Column("status", sa.String(20), nullable=False, server_default="unknown"),
        sa.Column("reachable", sa.Boolean()),
        sa.Column("reachability_at", sa.DateTime(timezone=True)),
        sa.Column("reachability_error", sa.Text()),
        sa.Column("cpu_usage", sa.Float()),
        sa.Column("memory_usage", sa.Float()),
        sa.Column("disk_usage", sa.Float()),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.UniqueConstraint("cluster_uuid", "name", name="nodes_cluster_name_key"),
        sa.CheckConstraint(f"status {HEALTH_CHECK}", name="nodes_status_check"),
        sa.CheckConstraint("source IN ('registered', 'discovered')", name="nodes_source_check"),
        sa.CheckConstraint("ssh_port BETWEEN 1 AND 65535", name="nodes_ssh_port_check"),
        schema=SCHEMA,
    )
    op.create_index("nodes_name_idx", "nodes", ["name"], schema=SCHEMA)


def _create_metric_samples() -> None:
    op.create_table(
        "metric_samples",
        sa.Column(
            "node_uuid",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{SCHEMA}.nodes.uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sampled_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("cluster_uuid", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("cpu_percent", sa.Float()),
        sa.Column("memory_percent", sa.Float()),
        sa.Column("disk_percent", sa.Float()),
        schema=SCHEMA,
    )
    op.create_index("metric_samples_cluster_time_idx", "metric_samples", ["cluster_uuid", "sampled_at"], schema=SCHEMA)
    op.create_index("metric_samples_time_idx", "metric_samples", ["sampled_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("metric_samples", schema=SCHEMA)
    op.drop_table("nodes", schema=SCHEMA)
    op.drop_table("cluster_owners", schema=SCHEMA)
    op.drop_table("clusters", schema=SCHEMA)
