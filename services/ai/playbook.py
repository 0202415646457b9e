"""Links between the fault catalog's playbook actions and the proposals a diagnosis carries.

A playbook action is named by an id that is stable within its kind: the action name, plus
the daemon or the diagnostic command where the action takes one
(``restart_daemon:datanode``, ``run_diagnostic:jps``). Diagnosers can only propose ids that
the kind's playbook lists, after ``incident_playbook.py`` fills in the incident's daemon, so
neither the model nor a request can invent a command.
"""

from functools import lru_cache

from libs.common.catalog import Catalog, FaultKind, RepairAction, catalog_dir_from_env, load_catalog
from services.ai.diagnosis.base import Localized, ProposedAction

DIAGNOSTIC_LABELS: dict[str, str] = {
    "hdfs_report": "hdfs dfsadmin -report",
    "safemode_get": "hdfs dfsadmin -safemode get",
    "yarn_nodes": "yarn node -list -all",
    "jps": "jps",
    "df": "df -h",
    "free": "free -m",
}

_TITLES: dict[str, tuple[str, str]] = {
    "restart_daemon": ("重启 {daemon} 守护进程", "Restart the {daemon} daemon"),
    "leave_safe_mode": ("让 NameNode 退出安全模式", "Make the NameNode leave safe mode"),
    "clean_temp_dir": ("清理临时目录 {root}", "Clean the temporary folder {root}"),
    "raise_setting_and_restart": (
        "把 {file} 中的 {key} 调整为 {value} 并重启 {daemon}",
        "Set {key} to {value} in {file} and restart {daemon}",
    ),
    "run_diagnostic": ("运行诊断命令 {label}", "Run the diagnostic command {label}"),
}


@lru_cache
def get_catalog() -> Catalog:
    """Return the fault catalog, shipped kinds plus the operator's folder (``HFD_CATALOG_DIR``)."""
    return load_catalog(catalog_dir_from_env())


def find_kind(kind: str | None) -> FaultKind:
    """Return the catalog entry of ``kind``, or ``unknown_error`` for a kind the catalog lacks."""
    catalog = get_catalog()
    if kind and kind in catalog:
        return catalog.get(kind)
    return catalog.get("unknown_error")


def action_id(action: RepairAction) -> str:
    """Return the id of a playbook action within its kind."""
    if action.action == "restart_daemon":
        return f"restart_daemon:{action.params['daemon']}"
    if action.action == "run_diagnostic":
        return f"run_diagnostic:{action.params['command']}"
    return action.action


def action_title(action: str, params: dict) -> Localized:
    """Describe an action with its parameters, in both languages."""
    zh, en = _TITLES[action]
    values = {**params, "label": DIAGNOSTIC_LABELS.get(str(params.get("command", "")), params.get("command", ""))}
    return Localized(zh=zh.format(**values), en=en.format(**values))


def to_proposal(kind: FaultKind, action: RepairAction, extra_safe: frozenset[str] = frozenset()) -> ProposedAction:
    """Turn a playbook action into a proposal with its id, parameters, safety flag and title.

    The action is safe when the catalog marks it so, or when the operator lists
    ``<kind>:<action id>`` in ``extra_safe``.
    """
    params = dict(action.params)
    identifier = action_id(action)
    return ProposedAction(
        action_id=identifier,
        action=action.action,
        params=params,
        safe=action.safe or f"{kind.kind}:{identifier}" in extra_safe,
        title=action_title(action.action, params),
    )
