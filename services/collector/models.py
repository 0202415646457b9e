"""Tables of the collector: nodes and their encrypted secrets, collectors, file positions, samplers."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.timeutil import utcnow
from services.collector.db_base import SCHEMA, Base

__all__ = ["SCHEMA", "Base", "CollectorRow", "FilePosition", "MetricSampler", "Node"]


class Node(Base):
    """A node to collect from, with its SSH login. ``secret`` is a Fernet token, never plaintext."""

    __tablename__ = "nodes"

    node_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    cluster_uuid: Mapped[str] = mapped_column(String(36), index=True)
    cluster_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), index=True)
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str] = mapped_column(String(64))
    secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # A node whose secret this node logs in with, read at each connect; set only when ``secret`` is null.
    credentials_from_node: Mapped[str | None] = mapped_column(String(36), nullable=True)
    known_host_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A copy of inventory's list, which owns it: set by nodes.upsert, set-log-dir and the start-up sync.
    log_dirs: Mapped[list[str]] = mapped_column(JSON, default=list)
    collect_new_types: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CollectorRow(Base):
    """Whether the log collector ``<node>_<log_type>`` runs, and its poll interval in seconds."""

    __tablename__ = "collectors"

    node_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    log_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    running: Mapped[bool] = mapped_column(Boolean, default=True)
    interval: Mapped[int] = mapped_column(Integer, default=5)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class FilePosition(Base):
    """How far one log file has been published: its inode and the byte offset after the last acked record.

    ``pending_starts`` and ``pending_end`` are the batch boundaries of a publish that may have
    reached JetStream without being committed here. After a crash the same batches, with the
    same message ids, are rebuilt from them, so JetStream drops the ones it already has.
    ``generation`` counts the rotations and truncations of the path; it keeps message ids unique
    when a truncated file restarts at offset 0 or a new file gets a reused inode number.
    """

    __tablename__ = "file_positions"

    node_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    log_type: Mapped[str] = mapped_column(String(64))
    inode: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    pending_starts: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    pending_end: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class MetricSampler(Base):
    """Whether metric sampling runs for a cluster, and its interval in seconds."""

    __tablename__ = "metric_samplers"

    cluster_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    running: Mapped[bool] = mapped_column(Boolean, default=True)
    interval: Mapped[int] = mapped_column(Integer, default=15)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
