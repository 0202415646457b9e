"""The node each proposed repair or check runs on, chosen by the roles that inventory stores.

A fault is reported on the node whose log shows it, but its repair may concern a daemon on
another node. A DataNode that cannot reach the NameNode, for example, reports the fault on
its own node, while the NameNode runs on the master. The role an action needs is, in this
order:

1. the catalog action's ``node_role``;
2. the daemon of ``restart_daemon`` and ``raise_setting_and_restart``. When the kind is
   reported by that daemon (it is in the kind's ``daemons``), the action concerns the
   reporting node's own daemon and runs nowhere else;
3. ``namenode`` for ``leave_safe_mode``, ``hdfs_report`` and ``safemode_get``, which ask the
   NameNode, and ``resourcemanager`` for ``yarn_nodes``;
4. none: the action concerns the reporting node itself (``jps``, ``df``, ``free``,
   ``clean_temp_dir``).

An action with a role runs on the reporting node when that node has the role, else on the
node of the cluster that has it. Among several such nodes the one the evidence names wins,
else the first by name, and the proposal's ``node_note`` explains the choice.
"""

import re
from dataclasses import dataclass

from libs.common.catalog import FaultKind
from libs.common.catalog import RepairAction as CatalogAction
from libs.common.catalog.models import ROLE_NAME_PATTERN
from services.ai.diagnosis.base import ClusterNode, Localized

DAEMON_ACTIONS = frozenset({"restart_daemon", "raise_setting_and_restart"})
ACTION_ROLES = {"leave_safe_mode": "namenode"}
COMMAND_ROLES = {"hdfs_report": "namenode", "safemode_get": "namenode", "yarn_nodes": "resourcemanager"}


@dataclass(frozen=True)
class Need:
    """The role an action needs, and whether only the reporting node's own daemon fits."""

    role: str | None
    own_daemon: bool = False


@dataclass(frozen=True)
class Target:
    """The node an action runs on (None: no node fits), with the reason when it is worth telling."""

    node: str | None
    note: Localized | None = None


def join(*texts: Localized | None) -> Localized | None:
    """Join notes into one note, sentence after sentence. Return None when there is none."""
    present = [text for text in texts if text is not None]
    if not present:
        return None
    return Localized(zh="".join(text.zh for text in present), en=" ".join(text.en for text in present))


def needed_role(kind: FaultKind, action: CatalogAction) -> Need:
    """Return the role that ``action`` of ``kind``'s playbook needs on the node it runs on."""
    if action.node_role:
        return Need(action.node_role)
    if action.action in DAEMON_ACTIONS:
        daemon = str(action.params["daemon"])
        if not re.fullmatch(ROLE_NAME_PATTERN, daemon):
            # No inventory role can have this name (a misspelt daemon in an operator's catalog).
            # incident_playbook() fills in '{daemon}' or drops its action first, so it never gets here.
            return Need(None)
        reported_by = set(kind.daemons)
        return Need(daemon, own_daemon=daemon in reported_by or "any" in reported_by)
    if action.action in ACTION_ROLES:
        return Need(ACTION_ROLES[action.action])
    return Need(COMMAND_ROLES.get(str(action.params.get("command", ""))))


def _roles_text(node: ClusterNode) -> str:
    return ", ".join(node.roles) or "-"


def _find(nodes: list[ClusterNode], name: str) -> ClusterNode | None:
    return next((node for node in nodes if node.name == name), None)


def choose_node(need: Need, reporting: str, nodes: list[ClusterNode] | None, hints: set[str]) -> Target:
    """Pick the node for an action that needs ``need``. ``hints`` are the hosts the evidence names."""
    if need.role is None:
        return Target(reporting)
    role = need.role
    if nodes is None:
        return Target(
            reporting,
            Localized(
                zh=f"未能读取集群的节点和角色，因此没有核对，在报告故障的节点 {reporting} 上执行。",
                en=f"The cluster's nodes and roles could not be read, so the action runs unchecked on {reporting}, "
                "the node that reported the fault.",
            ),
        )

    own = _find(nodes, reporting)
    if own is not None and role in own.roles:
        return Target(reporting)
    if need.own_daemon:
        return _own_daemon(role, reporting, own)

    candidates = sorted((node for node in nodes if role in node.roles), key=lambda node: node.name)
    if len(candidates) == 1:
        name = candidates[0].name
        return Target(
            name,
            Localized(
                zh=f"{role} 运行在 {name} 上，而不是报告故障的节点 {reporting}，因此在 {name} 上执行。",
                en=f"{role} runs on {name}, not on {reporting} where the fault was reported, so the action "
                f"runs on {name}.",
            ),
        )
    if candidates:
        return _one_of(role, candidates, hints)
    return _no_node_with_role(role, reporting, own, nodes)


def _own_daemon(role: str, reporting: str, own: ClusterNode | None) -> Target:
    if own is None or not own.roles:
        return Target(
            reporting,
            Localized(
                zh=f"库存中没有 {reporting} 的角色记录，无法核对它是否运行 {role}。",
                en=f"Inventory records no roles for {reporting}, so it is not known whether {reporting} runs {role}.",
            ),
        )
    return Target(
        None,
        Localized(
            zh=f"{reporting} 不运行 {role}（其角色：{_roles_text(own)}），而该操作只针对报告故障的节点自身的 {role}。",
            en=f"{reporting} does not run {role} (its roles: {_roles_text(own)}), and the action concerns only the "
            f"{role} of the node that reported the fault.",
        ),
    )


def _one_of(role: str, candidates: list[ClusterNode], hints: set[str]) -> Target:
    names = ", ".join(node.name for node in candidates)
    named = [node for node in candidates if node.name in hints or (node.address and node.address in hints)]
    if named:
        name = named[0].name
        return Target(
            name,
            Localized(
                zh=f"多个节点具有 {role} 角色（{names}），选择证据中提到的 {name}。",
                en=f"Several nodes have the {role} role ({names}), and the evidence names {name}, so the action "
                "runs there.",
            ),
        )
    name = candidates[0].name
    return Target(
        name,
        Localized(
            zh=f"多个节点具有 {role} 角色（{names}），按名称顺序选择了第一个 {name}，请确认这是正确的节点。",
            en=f"Several nodes have the {role} role ({names}), so the action runs on {name}, the first by name. "
            "Check that it is the right node.",
        ),
    )


def _no_node_with_role(role: str, reporting: str, own: ClusterNode | None, nodes: list[ClusterNode]) -> Target:
    unknown = sorted(node.name for node in nodes if not node.roles)
    if own is not None and not own.roles:
        unknown = [reporting]
    if unknown:
        name = unknown[0]
        return Target(
            name,
            Localized(
                zh=f"没有节点在库存中登记 {role} 角色，而 {name} 没有角色记录，因此在 {name} 上执行。",
                en=f"No node lists the {role} role in inventory and {name} has no roles recorded, so the action runs "
                f"on {name}.",
            ),
        )
    return Target(
        None,
        Localized(
            zh=f"集群中没有节点在库存中登记 {role} 角色，该操作没有可执行的节点。",
            en=f"No node of the cluster has the {role} role in inventory, so the action has no node to run on.",
        ),
    )


def check_requested(
    need: Need, requested: str, reporting: str, nodes: list[ClusterNode] | None, hints: set[str]
) -> Target:
    """Validate the node that the model named for an action, moving the action when the node does not fit."""
    if nodes is None:
        return Target(requested)
    node = _find(nodes, requested)
    if node is None:
        return Target(
            None,
            Localized(
                zh=f"模型指定的节点 {requested} 不属于该集群。",
                en=f"The model named {requested}, which is not a node of this cluster.",
            ),
        )
    if need.role is None and requested == reporting:
        return Target(requested)
    if need.role is None:
        return Target(
            requested,
            Localized(
                zh=f"按模型的选择在 {requested} 上执行。", en=f"The action runs on {requested}, as the model chose."
            ),
        )
    if need.role in node.roles and (not need.own_daemon or requested == reporting):
        return Target(requested)

    chosen = choose_node(need, reporting, nodes, hints)
    if chosen.node is None:
        return chosen
    moved = Localized(
        zh=f"模型指定了 {requested}，但它不适合执行该操作（其角色：{_roles_text(node)}），已改为 {chosen.node}。",
        en=f"The model named {requested}, which does not fit the action (its roles: {_roles_text(node)}), "
        f"so the action moved to {chosen.node}.",
    )
    return Target(chosen.node, join(moved, chosen.note))
