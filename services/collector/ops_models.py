"""Request bodies and queries of the operations endpoints, and the checks of node and log type names."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from services.collector.command_args import LineCount
from services.collector.command_catalog import MAX_COMMAND_LENGTH
from services.collector.policy import Actor
from services.collector.remote_paths import AbsolutePath
from services.collector.safe_pattern import check_pattern

# A host name as RFC 1123 allows it: dot-separated labels of letters, digits and inner hyphens.
_NODE_NAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_LOG_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


def check_node_name(value: str) -> str:
    if not _NODE_NAME_RE.fullmatch(value):
        raise PydanticCustomError("invalid_node_name", "invalid node name")
    return value


def check_log_type(value: str) -> str:
    if not _LOG_TYPE_RE.fullmatch(value):
        raise PydanticCustomError("invalid_log_type_name", "invalid log type")
    return value


NodeName = Annotated[str, Field(max_length=253), AfterValidator(check_node_name)]
LogType = Annotated[str, Field(max_length=41), AfterValidator(check_log_type)]
SafePattern = Annotated[str, AfterValidator(check_pattern)]
ClusterKey = Annotated[str, Field(min_length=1, max_length=100)]


class ExecuteRequest(BaseModel):
    """Body of ``POST /hadoop/nodes/{node_name}/execute/``: one allowed command as free text."""

    command: str = Field(max_length=MAX_COMMAND_LENGTH, examples=["hdfs dfsadmin -report"])
    timeout: int = Field(default=30, ge=1, le=300, description="Seconds before the command is stopped.")


class ReadLogRequest(BaseModel):
    """Body of ``POST /ops/read-log``. ``path`` must lie inside one of the node's log directories."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    node: NodeName
    path: AbsolutePath
    lines: LineCount = 200
    pattern: SafePattern | None = Field(
        default=None, description="Python regular expression, applied by the collector."
    )
    ssh_user: str | None = Field(default=None, alias="sshUser", max_length=32)
    timeout: int = Field(default=20, ge=1, le=120, description="Seconds before the read is stopped.")
    cluster: ClusterKey | None = Field(
        default=None, description="Cluster name or uuid when the node name is ambiguous."
    )


class LogQuery(BaseModel):
    """Query of the log reading endpoints."""

    lines: LineCount = 200
    cluster: ClusterKey | None = None


class RunCommandRequest(BaseModel):
    """Body of the internal ``commands.run``."""

    model_config = ConfigDict(extra="forbid")

    node_uuid: str = Field(min_length=1, max_length=36)
    command_id: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: int = Field(default=30, ge=1, le=300)
    actor: Actor = "user"
    description: str | None = Field(default=None, max_length=2000)
    fault_id: str | None = Field(default=None, max_length=64)
    policy_override: str | None = Field(default=None, pattern=r"^auto_repair$")
    safe_action: bool = False


class TailRequest(BaseModel):
    """Body of the internal ``logs.tail``: a ``path``, or a ``log_type`` for the newest file of that type."""

    model_config = ConfigDict(extra="forbid")

    node_uuid: str = Field(min_length=1, max_length=36)
    path: AbsolutePath | None = None
    log_type: LogType | None = None
    lines: LineCount = 200
    pattern: SafePattern | None = None
    timeout: int = Field(default=20, ge=1, le=120)
    actor: Actor | None = Field(default=None, description="Unset means ai for the system principal, else user.")
