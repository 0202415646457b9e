"""Tables of the inventory service, all in PostgreSQL schema ``inventory``.

SSH secrets are not stored here: the collector keeps them, encrypted. A deleted cluster
keeps its row (``deleted_at`` is set), its nodes and its metric samples, so history stays
readable in the database after collection stops.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.db import schema_base
from libs.common.timeutil import utcnow

SCHEMA = "inventory"
Base = schema_base(SCHEMA)

HEALTH_STATES = ("healthy", "warning", "unhealthy", "unknown")
REPAIR_POLICIES = ("off", "suggest", "auto")
NODE_SOURCES = ("registered", "discovered")


class Cluster(Base):
    """A Hadoop cluster registered by a user; ``host`` and ``ip`` are its master's."""

    __tablename__ = "clusters"
    __table_args__ = (
        CheckConstraint(f"health_status IN {HEALTH_STATES}", name="clusters_health_status_check"),
        CheckConstraint(f"repair_policy IN {REPAIR_POLICIES}", name="clusters_repair_policy_check"),
        Index("clusters_name_live_key", "name", unique=True, postgresql_where=text("deleted_at IS NULL")),
    )

    uuid: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(50), default="hadoop")
    description: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str | None] = mapped_column(String(253))
    ip: Mapped[str | None] = mapped_column(String(45))
    declared_node_count: Mapped[int | None] = mapped_column(Integer)
    health_status: Mapped[str] = mapped_column(String(20), default="unknown")
    repair_policy: Mapped[str] = mapped_column(String(10), default="suggest")
    config_info: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClusterOwner(Base):
    """A user's access to a cluster; admins see every cluster without a row here."""

    __tablename__ = "cluster_owners"
    __table_args__ = (Index("cluster_owners_cluster_idx", "cluster_uuid"),)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cluster_uuid: Mapped[UUID] = mapped_column(
        PG_UUID(as_uuid=True), ForeignKey("clusters.uuid", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Node(Base):
    """A host of a cluster, with its latest resource usage and reachability."""

    __tablename__ = "nodes"
    __table_args__ = (
        UniqueConstraint("cluster_uuid", "name", name="nodes_cluster_name_key"),
        CheckConstraint(f"status IN {HEALTH_STATES}", name="nodes_status_check"),
        CheckConstraint(f"source IN {NODE_SOURCES}", name="nodes_source_check"),
        CheckConstraint("ssh_port BETWEEN 1 AND 65535", name="nodes_ssh_port_check"),
        Index("nodes_name_idx", "name"),
    )

    uuid: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    cluster_uuid: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True), ForeignKey("clusters.uuid"))
    name: Mapped[str] = mapped_column(String(253))
    ip: Mapped[str] = mapped_column(String(45))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str] = mapped_column(String(32))
    log_dirs: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    source: Mapped[str] = mapped_column(String(12), default="registered")
    credentials_from: Mapped[UUID | None] = mapped_column(
        PG_UUID(as_uuid=True), comment="Node whose SSH credentials the collector uses for this discovered node."
    )
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    reachable: Mapped[bool | None] = mapped_column(Boolean)
    reachability_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reachability_error: Mapped[str | None] = mapped_column(Text)
    cpu_usage: Mapped[float | None] = mapped_column(Float)
    memory_usage: Mapped[float | None] = mapped_column(Float)
    disk_usage: Mapped[float | None] = mapped_column(Float)
    last_heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class MetricSample(Base):
    """One node's CPU, memory and disk usage in percent at one time; unique per node and time."""

    __tablename__ = "metric_samples"
    __table_args__ = (
        Index("metric_samples_cluster_time_idx", "cluster_uuid", "sampled_at"),
        Index("metric_samples_time_idx", "sampled_at"),
    )

    node_uuid: Mapped[UUID] = mapped_column(
        PG_UUID(as_uuid=True), ForeignKey("nodes.uuid", ondelete="CASCADE"), primary_key=True
    )
    sampled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    cluster_uuid: Mapped[UUID] = mapped_column(PG_UUID(as_uuid=True))
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    memory_percent: Mapped[float | None] = mapped_column(Float)
    disk_percent: Mapped[float | None] = mapped_column(Float)
