"""Versioned event models carried on JetStream.

Every event has ``schema_version``; consumers accept the versions they know and skip (and log)
others. Subjects and streams are in ``libs.common.names``; the AsyncAPI file in ``docs/``
documents these models for other systems.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

from libs.common.timeutil import utcnow


class LogEntry(BaseModel):
    """One log record (a multi-line stack trace is one record) read from a file on a node."""

    offset: int = Field(description="Byte offset of the record's first byte in the file.")
    length: int = Field(description="Bytes the record takes in the file, newline included.")
    text: str
    timestamp: datetime | None = None
    level: str | None = None
    logger: str | None = None


class LogBatch(BaseModel):
    """Consecutive records of one file, published to ``logs.<cluster>.<node>.<source>``.

    The message id is ``<node>:<file>:<inode>:<first offset>``, so a retried publish is a duplicate.
    """

    schema_version: Literal[1] = 1
    cluster: str
    node: str
    log_type: str
    file: str
    inode: int
    entries: list[LogEntry]
    collected_at: datetime = Field(default_factory=utcnow)


class MetricSample(BaseModel):
    """Resource usage of one node, published to ``metrics.<cluster>.<node>``."""

    schema_version: Literal[1] = 1
    cluster: str
    node: str
    sampled_at: datetime = Field(default_factory=utcnow)
    cpu_percent: float | None = None
    memory_percent: float | None = None
    disk_percent: float | None = None
    memory_total_bytes: int | None = None
    disk_total_bytes: int | None = None
    load1: float | None = None


class NodeStatusEvent(BaseModel):
    """Reachability of a node as the collector sees it, published to ``metrics.<cluster>.<node>.status``."""

    schema_version: Literal[1] = 1
    cluster: str
    node: str
    reachable: bool
    error: str | None = None
    observed_at: datetime = Field(default_factory=utcnow)


class FaultEvent(BaseModel):
    """A change to an incident, published to ``faults.<cluster>.<kind>``."""

    schema_version: Literal[1] = 1
    event_id: UUID = Field(default_factory=uuid4)
    event: Literal["detected", "updated", "resolved"]
    incident_id: str
    cluster: str
    node: str
    kind: str
    severity: str
    status: Literal["active", "acknowledged", "resolved"]
    title_zh: str
    title_en: str
    count: int
    first_seen: datetime
    last_seen: datetime
    evidence: list[str] = []
    occurred_at: datetime = Field(default_factory=utcnow)


class DiagnosisEvent(BaseModel):
    """A diagnosis of an incident, published to ``diagnoses.<cluster>``."""

    schema_version: Literal[1] = 1
    diagnosis_id: str
    incident_id: str
    cluster: str
    node: str
    kind: str
    diagnoser: Literal["claude", "offline"]
    summary_zh: str
    summary_en: str
    repair_status: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AuditEvent(BaseModel):
    """A state-changing request, published to ``audit.<service>`` and stored as a sys-exec-log."""

    schema_version: Literal[1] = 1
    operation_id: UUID = Field(default_factory=uuid4)
    user_id: int | None = None
    username: str | None = None
    action: str = Field(description="HTTP method and route template, e.g. 'DELETE /api/v1/users/{username}'.")
    target: str = Field(description="The concrete path the request touched.")
    outcome: str = Field(description="'success' or 'failure', with the HTTP status.")
    status_code: int
    request_id: str = ""
    client_address: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
