"""Typed arguments of the policy commands: the daemon names and one pydantic model per argument shape."""

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from services.collector.remote_paths import AbsolutePath, LogDirPath, LogFilePath, TempDirPath

MAX_LINES = 5000
MAX_SEARCH_TEXT_LENGTH = 256


class HdfsDaemon(StrEnum):
    NAMENODE = "namenode"
    SECONDARYNAMENODE = "secondarynamenode"
    DATANODE = "datanode"
    JOURNALNODE = "journalnode"
    ZKFC = "zkfc"


class YarnDaemon(StrEnum):
    RESOURCEMANAGER = "resourcemanager"
    NODEMANAGER = "nodemanager"
    TIMELINESERVER = "timelineserver"
    PROXYSERVER = "proxyserver"


class MapredDaemon(StrEnum):
    HISTORYSERVER = "historyserver"


class DaemonAction(StrEnum):
    START = "start"
    STOP = "stop"


Daemon = HdfsDaemon | YarnDaemon | MapredDaemon


def _check_search_text(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("text_control_character", "text contains a control character")
    return value


SearchText = Annotated[str, Field(min_length=1, max_length=MAX_SEARCH_TEXT_LENGTH), AfterValidator(_check_search_text)]
LineCount = Annotated[int, Field(ge=1, le=MAX_LINES)]


class Args(BaseModel):
    """Base of every argument model: unknown arguments are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(Args):
    pass


class JpsArgs(Args):
    long_names: bool = Field(default=False, description="jps -l: full main class names.")


class YarnNodesArgs(Args):
    include_all: bool = Field(default=True, description="yarn node -list -all: nodes in every state.")


class TailArgs(Args):
    path: LogFilePath
    lines: LineCount = 10


class GrepArgs(Args):
    """A fixed-string search (``grep -F``), so the node never evaluates a regular expression."""

    path: LogFilePath
    text: SearchText
    ignore_case: bool = False
    count_only: bool = False
    max_matches: LineCount = 1000


class LogDirArgs(Args):
    path: LogDirPath


class HdfsDaemonArgs(Args):
    daemon: HdfsDaemon


class YarnDaemonArgs(Args):
    daemon: YarnDaemon


class MapredDaemonArgs(Args):
    daemon: MapredDaemon


class HdfsControlArgs(Args):
    action: DaemonAction
    daemon: HdfsDaemon


class YarnControlArgs(Args):
    action: DaemonAction
    daemon: YarnDaemon


class MapredControlArgs(Args):
    action: DaemonAction
    daemon: MapredDaemon


class RestartArgs(Args):
    daemon: Daemon


class CleanTempArgs(Args):
    path: TempDirPath
    older_than_minutes: int = Field(default=0, ge=0, le=525_600, description="0 removes every entry.")


class ResolveArgs(Args):
    paths: list[AbsolutePath] = Field(min_length=1, max_length=64)
