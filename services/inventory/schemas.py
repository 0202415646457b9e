"""Request, response and RPC models of the inventory service.

Request bodies accept both the API contract's cluster body (``uuid, host, ip, count, health``)
and the web client's (``name, type, description, nodes``). Unknown fields are ignored.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from libs.common.log_dirs import MAX_LOG_DIR_LENGTH, check_log_dir
from services.inventory import validation

HealthStatus = Literal["healthy", "warning", "unhealthy", "unknown"]
RepairPolicy = Literal["off", "suggest", "auto"]

MAX_NODES_PER_REQUEST = 100

Hostname = Annotated[str, Field(max_length=253), AfterValidator(validation.check_hostname)]
IpAddress = Annotated[str, Field(max_length=64), AfterValidator(validation.check_ip_address)]
SshUser = Annotated[str, Field(max_length=32), AfterValidator(validation.check_ssh_user)]
LogDir = Annotated[str, Field(max_length=MAX_LOG_DIR_LENGTH), AfterValidator(check_log_dir)]
RoleName = Annotated[str, Field(max_length=32), AfterValidator(validation.check_role)]
ClusterUuid = Annotated[str, Field(max_length=64), AfterValidator(validation.check_uuid)]
ClusterName = Annotated[str, Field(max_length=100), AfterValidator(validation.check_single_line)]
Description = Annotated[str, Field(max_length=2000), AfterValidator(validation.check_plain_text)]


class NodeCreate(BaseModel):
    """A node to register; exactly one of ``ssh_password`` and ``ssh_private_key`` is required."""

    hostname: Hostname
    ip_address: IpAddress
    ssh_user: SshUser
    ssh_password: Annotated[str, Field(max_length=1024), AfterValidator(validation.check_password)] | None = None
    ssh_private_key: (
        Annotated[
            str,
            Field(max_length=validation.MAX_PRIVATE_KEY_LENGTH),
            AfterValidator(validation.check_private_key),
        ]
        | None
    ) = None
    ssh_port: int = Field(default=22, ge=1, le=65535)
    log_dirs: list[LogDir] | None = Field(default=None, max_length=16)
    roles: list[RoleName] = Field(default_factory=list, max_length=16)
    known_host_key: (
        Annotated[
            str,
            Field(max_length=validation.MAX_KNOWN_HOST_KEY_LENGTH),
            AfterValidator(validation.check_known_host_key),
        ]
        | None
    ) = None


class ClusterCreate(BaseModel):
    """``POST /clusters``: the contract's fields and the web client's, all optional but checked.

    ``host`` and ``ip`` default to the first node's, and ``name`` to ``host``. ``health`` is
    accepted for compatibility and ignored, because a cluster's health follows its nodes.
    """

    uuid: ClusterUuid | None = None
    name: ClusterName | None = None
    type: Annotated[str, Field(max_length=50), AfterValidator(validation.check_single_line)] = "hadoop"
    description: Description = ""
    host: Hostname | None = None
    ip: IpAddress | None = None
    count: int | None = Field(default=None, ge=0, le=100_000)
    health: Annotated[str, Field(max_length=20)] | None = None
    repair_policy: RepairPolicy = "suggest"
    # The collector handles one nodes.upsert at a time (about 40 ms each, measured on a loaded
    # 2-core machine), so 100 nodes stay inside the gateway's default 10-second timeout.
    nodes: list[NodeCreate] = Field(default_factory=list, max_length=MAX_NODES_PER_REQUEST)


class ClusterUpdate(BaseModel):
    """``PATCH /clusters/{uuid}``: the fields given are changed."""

    name: ClusterName | None = None
    description: Description | None = None
    repair_policy: RepairPolicy | None = None


class TrendQuery(BaseModel):
    """Query of the metric endpoints: seconds of history and seconds per bucket, both optional."""

    cluster: str = Field(max_length=64)
    node: str | None = Field(default=None, max_length=253)
    window: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    bucket: int = Field(default=300, ge=10, le=24 * 3600)
    tz: str = Field(default="UTC", max_length=64)


class ResolveRequest(BaseModel):
    """Body of the internal ``nodes.resolve``."""

    name: str = Field(max_length=253)
    cluster: str | None = Field(default=None, max_length=100)


class ClusterFilter(BaseModel):
    """Body of the internal ``nodes.list_for_principal`` and ``clusters.get``."""

    cluster: str | None = Field(default=None, max_length=100)


class LogDirChange(BaseModel):
    """Body of the internal ``nodes.set_log_dir``: the one log folder of every node the caller owns."""

    log_dir: LogDir


class DiscoverOptions(BaseModel):
    """Optional body of ``clusters.discover``; without ``worker_ssh_port`` workers get the master's port."""

    worker_ssh_port: int | None = Field(default=None, ge=1, le=65535)


class LogDirProbeReply(BaseModel):
    """Reply of the collector's ``nodes.probe_log_dirs``: folders read off a node, checked again here."""

    log_dirs: list[str] = Field(default_factory=list, max_length=64)
    source: str | None = Field(default=None, max_length=64)


class DiscoveredHost(BaseModel):
    """One worker reported by the collector's ``discover``; checked again before it is stored."""

    name: str
    address: str
    roles: list[str] = []


class DiscoverReply(BaseModel):
    hosts: list[DiscoveredHost] = Field(default_factory=list, max_length=5000)


class ClusterItem(BaseModel):
    """One cluster of ``GET /clusters``: the contract's fields and the web client's."""

    uuid: str
    host: str | None
    ip: str | None
    count: int
    health: HealthStatus
    name: str
    node_count: int
    health_status: HealthStatus
    type: str
    description: str
    repair_policy: RepairPolicy
    created_at: datetime


class NodeItem(BaseModel):
    """One node of ``GET /nodes``; ``cpu`` and ``mem`` read like ``25%``, ``updated`` like ``10分钟前``."""

    name: str
    ip: str
    status: HealthStatus
    cpu: str
    mem: str
    updated: str
    uuid: str
    disk: str
    roles: list[str]
    source: str


class NodeRef(BaseModel):
    """A node as other services see it (internal ``nodes.resolve`` and ``nodes.list_for_principal``)."""

    node_uuid: str
    name: str
    address: str
    port: int
    cluster_uuid: str
    cluster_name: str
    log_dirs: list[str]
    ssh_user: str
    roles: list[str]
    source: str
    credentials_from_node: str | None
    status: HealthStatus
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    last_heartbeat: datetime | None


class TrendResponse(BaseModel):
    """Bucket averages: ``values[i]`` is null when bucket ``times[i]`` has no sample."""

    times: list[str]
    values: list[float | None]
    timestamps: list[datetime]
    bucket: int
    window: int


class MemoryUsageResponse(BaseModel):
    """Memory in use and free, in percent, from each node's latest sample in the window."""

    used: float | None
    free: float | None
    nodes: int
    sampled_at: datetime | None


class ClusterList(BaseModel):
    clusters: list[ClusterItem]


class NodeList(BaseModel):
    nodes: list[NodeItem]


class NodeMetrics(BaseModel):
    """Latest usage of a node; ``lastHeartbeat`` is the ISO time of its latest sample, or null."""

    cpu: str
    mem: str
    disk: str
    status: HealthStatus
    ip: str
    lastHeartbeat: str | None  # noqa: N815 - the API contract's field name


class NodeDetail(BaseModel):
    """``GET /nodes/{name}``: the contract's ``name`` and ``metrics``, plus identifiers."""

    name: str
    metrics: NodeMetrics
    uuid: str
    cluster: str
    cluster_name: str
    roles: list[str]
    source: str
    log_dirs: list[str]


class NodeRefList(BaseModel):
    nodes: list[NodeRef]


class OkResponse(BaseModel):
    ok: bool = True


class Created(BaseModel):
    """A registered cluster or node and its uuid."""

    ok: bool = True
    uuid: str


class SkippedHost(BaseModel):
    name: str
    reason: str


class DiscoverResponse(BaseModel):
    """Host names added as ``discovered`` nodes, already known, and skipped with the reason code."""

    ok: bool = True
    added: list[str]
    existing: list[str]
    skipped: list[SkippedHost]
