"""A kind's playbook actions for one incident, with the daemon placeholder filled in.

A playbook action may name its daemon as ``'{daemon}'``, as ``daemon_exited`` does, meaning
the daemon whose log reported the fault. The incident's source files give it, because the
collector derives each file's log type from the file name (``hadoop-hdfs-datanode-host.log`` is
``datanode``, see ``libs.common.logformat.log_type_from_filename``). Each log type that is a
daemon hfd can restart fills the placeholder, so an incident that two daemons of one node
reported gets one action per daemon. When no source file names such a daemon (an audit or
container log, an incident that a person reported), the action is not proposed, because it
could not run, and a step for a person takes its place.
"""

from dataclasses import dataclass
from pathlib import PurePosixPath

from libs.common.catalog import FaultKind, RepairAction
from libs.common.logformat import log_type_from_filename
from services.ai.diagnosis.base import IncidentInfo, Localized, ProposedAction
from services.ai.playbook import action_id, to_proposal
from services.ai.repairs.actions import RESTARTABLE_DAEMONS

DAEMON_PLACEHOLDER = "{daemon}"


@dataclass(frozen=True)
class IncidentPlaybook:
    """The playbook actions that can run for one incident, and the steps left to a person."""

    kind: FaultKind
    actions: list[RepairAction]
    # The playbook action id, and the step a person takes in its place, of each action not proposed.
    manual_steps: list[tuple[str, Localized]]

    def by_id(self) -> dict[str, RepairAction]:
        """Return the actions by their id within the kind (``restart_daemon:datanode``)."""
        return {action_id(action): action for action in self.actions}

    def proposals(self, extra_safe: frozenset[str] = frozenset()) -> list[ProposedAction]:
        """Return every action as a proposal, in playbook order."""
        return [to_proposal(self.kind, action, extra_safe) for action in self.actions]


def source_log_types(source_files: list[str]) -> list[str]:
    """Return the log types of ``source_files`` as the collector derives them, in order, without repeats."""
    found: list[str] = []
    for name in source_files:
        path = PurePosixPath(name)
        # The collector files syslog, stderr and the other files of a YARN container folder
        # (userlogs/<application>/container_*/) under the log type "container".
        if path.parent.name.startswith("container_"):
            log_type = "container"
        else:
            log_type = log_type_from_filename(path.name)
        if log_type not in found:
            found.append(log_type)
    return found


def incident_playbook(kind: FaultKind, incident: IncidentInfo | None) -> IncidentPlaybook:
    """Return the actions of ``kind``'s playbook for ``incident``, with ``'{daemon}'`` filled in."""
    log_types = source_log_types(incident.source_files) if incident is not None else []
    daemons = [log_type for log_type in log_types if log_type in RESTARTABLE_DAEMONS]
    actions: list[RepairAction] = []
    manual_steps: list[tuple[str, Localized]] = []
    for action in kind.playbook.actions:
        if action.params.get("daemon") != DAEMON_PLACEHOLDER:
            actions.append(action)
        elif daemons:
            actions += [action.model_copy(update={"params": {**action.params, "daemon": name}}) for name in daemons]
        else:
            manual_steps.append((action_id(action), manual_step(action, log_types)))
    return IncidentPlaybook(kind=kind, actions=actions, manual_steps=manual_steps)


def manual_step(action: RepairAction, log_types: list[str]) -> Localized:
    """Describe, in both languages, the action that a person takes because no daemon fills its placeholder."""
    if action.action == "raise_setting_and_restart":
        file, key, value = action.params["file"], action.params["key"], action.params["value"]
        zh = f"手动把 {file} 中的 {key} 调整为 {value}，再重启日志中报告该故障的守护进程"
        en = f"Set {key} to {value} in {file} by hand, then restart the daemon whose log reported the fault"
    else:
        zh = "手动重启日志中报告该故障的守护进程"
        en = "Restart by hand the daemon whose log reported the fault"

    known = ", ".join(sorted(RESTARTABLE_DAEMONS))
    if not log_types:
        return Localized(
            zh=f"{zh}：该故障没有来源日志文件，无法确定是哪个守护进程，因此没有提出自动重启。",
            en=f"{en}. The incident has no source log file, so its daemon is not known and no restart is proposed.",
        )
    names = ", ".join(log_types)
    noun = "log type" if len(log_types) == 1 else "log types"
    return Localized(
        zh=f"{zh}：日志类型 {names} 不是 hfd 能重启的守护进程（可重启：{known}），因此没有提出自动重启。",
        en=f"{en}. The {noun} {names} names no daemon that hfd can restart ({known}), so no restart is proposed.",
    )
