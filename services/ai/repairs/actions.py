"""Repair actions as typed classes: parameters, preconditions, commands and post-checks.

Each class maps one playbook action of the fault catalog onto commands of the collector's
command policy. A class never builds a shell string: it names a command id and typed
arguments, and the collector builds the argv from its allowlist.
"""

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.ai.diagnosis.base import Localized
from services.ai.playbook import DIAGNOSTIC_LABELS

Daemon = Literal[
    "namenode",
    "datanode",
    "secondarynamenode",
    "journalnode",
    "resourcemanager",
    "nodemanager",
    "zkfc",
    "historyserver",
]

# The daemons that a restart can name. The collector's restart_daemon command accepts each of
# them and runs hdfs, yarn or mapred --daemon (mapred for the JobHistoryServer).
RESTARTABLE_DAEMONS: frozenset[str] = frozenset(get_args(Daemon))

# Command ids of the collector's policy that the actions use.
COMMAND_SAFEMODE_GET = "safemode_get"
COMMAND_SAFEMODE_LEAVE = "leave_safe_mode"
COMMAND_HDFS_REPORT = "hdfs_report"
COMMAND_RESTART = "restart_daemon"
COMMAND_CLEAN_TEMP = "clean_temp_dir"
COMMAND_JPS = "jps"

HADOOP_TMP_DIR = "hadoop.tmp.dir"
_SAFEMODE_ON_RE = re.compile(r"Safe mode is ON", re.IGNORECASE)
_SAFEMODE_OFF_RE = re.compile(r"Safe mode is OFF", re.IGNORECASE)
_MISSING_BLOCKS_RE = re.compile(r"Missing blocks:\s*(\d+)", re.IGNORECASE)
_JPS_NAMES = {
    "namenode": "NameNode",
    "datanode": "DataNode",
    "secondarynamenode": "SecondaryNameNode",
    "journalnode": "JournalNode",
    "resourcemanager": "ResourceManager",
    "nodemanager": "NodeManager",
    "zkfc": "DFSZKFailoverController",
    "historyserver": "JobHistoryServer",
}


def jps_name(daemon: str) -> str:
    """Return the process name that jps prints for ``daemon`` (``NameNode`` for ``namenode``)."""
    return _JPS_NAMES.get(daemon, daemon)


def jps_lists(output: str, daemon: str) -> bool:
    """Tell whether the output of ``jps`` lists the process of ``daemon``."""
    return re.search(rf"^\s*\d+\s+{re.escape(jps_name(daemon))}\s*$", output, re.MULTILINE) is not None


@dataclass
class CommandCall:
    """One command of the collector's policy, with typed arguments."""

    command_id: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    """The outcome of a precondition or a post-check."""

    ok: bool
    reason: str


class RepairAction(BaseModel, ABC):
    """Base of the repair actions; subclasses declare their parameters as fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    person_only: ClassVar[bool] = False
    changes_state: ClassVar[bool] = True

    @abstractmethod
    def commands(self) -> list[CommandCall]:
        """Return the commands that carry the action out, in order."""

    def precondition_commands(self) -> list[CommandCall]:
        """Return the read-only commands whose output ``precondition`` judges."""
        return []

    def precondition(self, outputs: list[str]) -> CheckResult:
        return CheckResult(True, "no precondition")

    def verification_commands(self) -> list[CommandCall]:
        """Return the read-only commands whose output ``verify`` judges after the action."""
        return []

    def verify(self, outputs: list[str]) -> CheckResult:
        return CheckResult(True, "no direct check")

    def description(self) -> Localized:
        from services.ai.playbook import action_title

        return action_title(self.name, self.model_dump())


class RestartDaemon(RepairAction):
    """Stop and start one Hadoop daemon on the node."""

    name: ClassVar[str] = "restart_daemon"
    daemon: Daemon

    def commands(self) -> list[CommandCall]:
        return [CommandCall(COMMAND_RESTART, {"daemon": self.daemon})]

    def verification_commands(self) -> list[CommandCall]:
        return [CommandCall(COMMAND_JPS)]

    def verify(self, outputs: list[str]) -> CheckResult:
        running = jps_lists(outputs[0], self.daemon)
        return CheckResult(running, f"jps {'lists' if running else 'does not list'} {jps_name(self.daemon)}")


class LeaveSafeMode(RepairAction):
    """Make the NameNode leave safe mode, only when no block is missing."""

    name: ClassVar[str] = "leave_safe_mode"

    def commands(self) -> list[CommandCall]:
        return [CommandCall(COMMAND_SAFEMODE_LEAVE)]

    def precondition_commands(self) -> list[CommandCall]:
        return [CommandCall(COMMAND_SAFEMODE_GET), CommandCall(COMMAND_HDFS_REPORT)]

    def precondition(self, outputs: list[str]) -> CheckResult:
        safemode, report = outputs
        if not _SAFEMODE_ON_RE.search(safemode):
            return CheckResult(False, "hdfs dfsadmin -safemode get does not report safe mode ON")
        missing = _MISSING_BLOCKS_RE.search(report)
        if missing is None:
            return CheckResult(False, "hdfs dfsadmin -report shows no 'Missing blocks' count")
        if int(missing.group(1)) > 0:
            return CheckResult(False, f"hdfs dfsadmin -report shows {missing.group(1)} missing blocks")
        return CheckResult(True, "safe mode is ON and no block is missing")

    def verification_commands(self) -> list[CommandCall]:
        return [CommandCall(COMMAND_SAFEMODE_GET)]

    def verify(self, outputs: list[str]) -> CheckResult:
        off = _SAFEMODE_OFF_RE.search(outputs[0]) is not None
        return CheckResult(off, "safe mode is OFF" if off else "safe mode is still ON")


class CleanTempDir(RepairAction):
    """Delete the contents of a temporary folder that lies inside the configured roots.

    ``root`` is an absolute path, or ``hadoop.tmp.dir`` for the node's first configured temp
    root; ``resolve`` turns it into the path the command gets.
    """

    name: ClassVar[str] = "clean_temp_dir"
    root: str = Field(min_length=2, max_length=255)
    path: str | None = Field(default=None, exclude=True)

    @field_validator("root")
    @classmethod
    def _check_root(cls, value: str) -> str:
        if value == HADOOP_TMP_DIR:
            return value
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or "\x00" in value:
            raise ValueError("root must be hadoop.tmp.dir or an absolute path without '..'")
        return str(path)

    def resolve(self, roots: list[str], node: str, user: str) -> "CleanTempDir":
        """Return the action with ``path`` set; raise ValueError when it lies outside ``roots``."""
        expanded = [root.replace("{node}", node).replace("{user}", user) for root in roots]
        if not expanded:
            raise ValueError("no temp roots are configured (HFD_AI_TEMP_ROOTS)")
        path = PurePosixPath(expanded[0] if self.root == HADOOP_TMP_DIR else self.root)
        if not any(path == PurePosixPath(root) or PurePosixPath(root) in path.parents for root in expanded):
            raise ValueError(f"{path} is outside the allowed temp roots {expanded}")
        return self.model_copy(update={"path": str(path)})

    def commands(self) -> list[CommandCall]:
        if self.path is None:
            raise ValueError("clean_temp_dir needs resolve() before it runs")
        return [CommandCall(COMMAND_CLEAN_TEMP, {"path": self.path})]


class RaiseSettingAndRestart(RepairAction):
    """Change one configuration value and restart the daemon; a person must approve it."""

    name: ClassVar[str] = "raise_setting_and_restart"
    person_only: ClassVar[bool] = True
    file: str = Field(pattern=r"^[a-z][a-z0-9-]*-site\.xml$")
    key: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")
    value: str = Field(pattern=r"^[A-Za-z0-9._:/-]{1,200}$")
    daemon: Daemon

    @field_validator("value", mode="before")
    @classmethod
    def _value_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | bool) else value

    def commands(self) -> list[CommandCall]:
        # NOTE: the collector's policy has no command that edits a *-site.xml file, so this
        # action only restarts the daemon after a person has changed the value by hand.
        return [CommandCall(COMMAND_RESTART, {"daemon": self.daemon})]


class RunDiagnostic(RepairAction):
    """Run one read-only diagnostic command."""

    name: ClassVar[str] = "run_diagnostic"
    changes_state: ClassVar[bool] = False
    command: Literal["hdfs_report", "safemode_get", "yarn_nodes", "jps", "df", "free"]

    def commands(self) -> list[CommandCall]:
        return [CommandCall(self.command)]

    def description(self) -> Localized:
        label = DIAGNOSTIC_LABELS[self.command]
        return Localized(zh=f"运行诊断命令 {label}", en=f"Run the diagnostic command {label}")


ACTION_CLASSES: dict[str, type[RepairAction]] = {
    cls.name: cls for cls in (RestartDaemon, LeaveSafeMode, CleanTempDir, RaiseSettingAndRestart, RunDiagnostic)
}


def build_action(action: str, params: dict[str, Any]) -> RepairAction:
    """Validate ``params`` against the action's class; raise KeyError or ValidationError."""
    return ACTION_CLASSES[action].model_validate(params)


def action_title(action: str, params: dict[str, Any], lang: str) -> str:
    """Describe a stored action in ``lang``; an action that no longer validates shows its name."""
    try:
        return build_action(action, params).description().get(lang)
    except (KeyError, ValidationError):
        return action
