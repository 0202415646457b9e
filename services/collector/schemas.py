"""Request and reply models of the collector's data-path endpoints."""

import re
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from libs.common.log_dirs import check_log_dir
from services.collector.hostkeys import parse_host_key

_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_LOG_TYPE_RE = re.compile(r"^[a-z0-9_]{1,64}$")


def check_host(value: str) -> str:
    if not _HOST_RE.match(value):
        raise PydanticCustomError("invalid_hostname", "invalid host name")
    return value


def check_user(value: str) -> str:
    if not _USER_RE.match(value):
        raise PydanticCustomError("invalid_ssh_user", "invalid SSH user")
    return value


def check_log_type(value: str) -> str:
    if not _LOG_TYPE_RE.match(value):
        raise PydanticCustomError("invalid_log_type", "invalid log type")
    return value


def check_host_key(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        parse_host_key(value)
    except ValueError:
        raise PydanticCustomError("invalid_known_host_key", "invalid host key") from None
    return value.strip()


def _interval(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
        raise PydanticCustomError("invalid_interval", "invalid interval")
    return value


LogDir = Annotated[str, AfterValidator(check_log_dir)]
HostName = Annotated[str, Field(max_length=253), AfterValidator(check_host)]
Interval = Annotated[int, BeforeValidator(_interval)]
LogType = Annotated[str, AfterValidator(check_log_type)]


class NodeUpsert(BaseModel):
    """A node registered by inventory, with the SSH secret the collector keeps encrypted."""

    cluster_uuid: UUID
    cluster_name: str = Field(min_length=1, max_length=255)
    node_uuid: UUID
    name: HostName
    address: HostName
    port: int = Field(default=22, ge=1, le=65535)
    ssh_user: Annotated[str, AfterValidator(check_user)]
    password: str | None = Field(default=None, max_length=1024)
    private_key: str | None = Field(default=None, max_length=16384)
    known_host_key: Annotated[str | None, Field(max_length=16384), AfterValidator(check_host_key)] = None
    log_dirs: list[LogDir] = Field(default_factory=list, max_length=16)
    credentials_from_node: UUID | None = Field(
        default=None, description="A node whose stored secret this node uses, when no secret is sent."
    )

    @model_validator(mode="after")
    def _check_private_key(self) -> "NodeUpsert":
        if self.private_key:
            import asyncssh

            try:
                asyncssh.import_private_key(self.private_key)
            except (asyncssh.KeyImportError, ValueError):
                raise PydanticCustomError("invalid_private_key", "invalid private key") from None
        return self


class NodeRemove(BaseModel):
    node_uuid: UUID | None = None
    cluster_uuid: UUID | None = None

    @model_validator(mode="after")
    def _need_one(self) -> "NodeRemove":
        if self.node_uuid is None and self.cluster_uuid is None:
            raise PydanticCustomError("field_required", "node_uuid or cluster_uuid is required")
        return self


class NodeStatusQuery(BaseModel):
    node_uuid: UUID | None = None
    cluster_uuid: UUID | None = None


class DiscoverRequest(BaseModel):
    cluster_uuid: UUID
    node_uuid: UUID


class CollectorTarget(BaseModel):
    """One collector, ``<node_name>_<log_type>``."""

    node_name: HostName
    log_type: LogType
    cluster: str | None = Field(default=None, max_length=255)


class CollectorStart(CollectorTarget):
    interval: Interval = 5


class IntervalRequest(BaseModel):
    interval: Interval


class LogDirRequest(BaseModel):
    log_dir: LogDir


class ClusterRequest(BaseModel):
    uuid: UUID


class ClusterStart(ClusterRequest):
    interval: Interval | None = None


class ClusterQuery(BaseModel):
    cluster: str | None = Field(default=None, max_length=255)


class CollectorsStatus(BaseModel):
    collectors: dict[str, int]
    total_running: int


class MessageReply(BaseModel):
    message: str


class StartReply(MessageReply):
    interval: int


class SamplerStatus(BaseModel):
    is_running: bool
    interval: int
    errors: dict[str, str]
