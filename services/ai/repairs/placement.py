"""Placing a diagnosis's proposals on nodes, and ordering them by the daemon checks.

Both diagnosers use this: the offline one for every playbook action, the Claude one for the
actions the model chose, with the node the model named. ``targets.py`` picks the node of one
action. Before a diagnosis, the context builder runs ``jps`` on each node where a proposal
would restart a daemon of another node than the reporting one (``remote_daemons``). A daemon
that jps lists is running, so restarting it comes after the other repairs. A daemon that jps
does not list is stopped, so starting it comes first.
"""

from libs.common.catalog import FaultKind
from services.ai.diagnosis.base import DaemonCheck, DiagnosisContext, DiagnosisStep, Localized, ProposedAction
from services.ai.diagnosis.extract import evidence_hosts
from services.ai.incident_playbook import incident_playbook
from services.ai.repairs.actions import ACTION_CLASSES, jps_name
from services.ai.repairs.targets import DAEMON_ACTIONS, Target, check_requested, choose_node, join, needed_role


def reporting_node(context: DiagnosisContext) -> str:
    """Return the node that reported the fault: the incident's node, else the node the request named."""
    if context.incident is not None:
        return context.incident.node
    return context.node.name if context.node is not None else ""


def target_of(kind: FaultKind, proposal: ProposedAction, context: DiagnosisContext, requested: str | None) -> Target:
    """Choose the node of one proposal. ``requested`` is the node the model named, if any."""
    action = incident_playbook(kind, context.incident).by_id()[proposal.action_id]
    need = needed_role(kind, action)
    reporting = reporting_node(context)
    hints = evidence_hosts(context.incident.evidence) if context.incident else set()
    if requested:
        return check_requested(need, requested, reporting, context.cluster_nodes, hints)
    return choose_node(need, reporting, context.cluster_nodes, hints)


def place(
    kind: FaultKind, proposal: ProposedAction, context: DiagnosisContext, requested: str | None = None
) -> tuple[ProposedAction | None, Localized | None]:
    """Return the proposal with its node and note, or None with the reason when no node fits."""
    target = target_of(kind, proposal, context, requested)
    if target.node is None:
        return None, target.note
    placed = proposal.model_copy(update={"node": target.node, "node_note": target.note})
    return _with_check(placed, context), None


def place_all(
    kind: FaultKind, proposals: list[ProposedAction], context: DiagnosisContext
) -> tuple[list[ProposedAction], list[tuple[str, Localized]]]:
    """Place every proposal and return the placed ones in check order, and the dropped ones with reasons."""
    placed: list[ProposedAction] = []
    dropped: list[tuple[str, Localized]] = []
    for proposal in proposals:
        result, reason = place(kind, proposal, context)
        if result is None:
            dropped.append((proposal.action_id, reason or Localized(zh="没有可执行的节点", en="no node fits")))
        else:
            placed.append(result)
    return order_by_checks(placed, context), dropped


def remote_daemons(kind: FaultKind, context: DiagnosisContext) -> list[tuple[str, str]]:
    """Return (daemon, node) for each playbook restart that would run on another node than the reporting one."""
    reporting = reporting_node(context)
    hints = evidence_hosts(context.incident.evidence) if context.incident else set()
    found: list[tuple[str, str]] = []
    for action in incident_playbook(kind, context.incident).actions:
        if action.action not in DAEMON_ACTIONS:
            continue
        target = choose_node(needed_role(kind, action), reporting, context.cluster_nodes, hints)
        pair = (str(action.params["daemon"]), target.node or "")
        if target.node and target.node != reporting and pair not in found:
            found.append(pair)
    return found


def _check_for(proposal: ProposedAction, context: DiagnosisContext) -> DaemonCheck | None:
    if proposal.action not in DAEMON_ACTIONS:
        return None
    daemon = proposal.params.get("daemon")
    return next(
        (check for check in context.daemon_checks if check.daemon == daemon and check.node == proposal.node), None
    )


def _with_check(proposal: ProposedAction, context: DiagnosisContext) -> ProposedAction:
    check = _check_for(proposal, context)
    if check is None:
        return proposal
    return proposal.model_copy(
        update={"node_note": join(proposal.node_note, check_note(check, reporting_node(context)))}
    )


def order_by_checks(proposals: list[ProposedAction], context: DiagnosisContext) -> list[ProposedAction]:
    """Put diagnostics first, then starts of stopped daemons, other repairs, and restarts of running daemons."""
    diagnostics, first, middle, last = [], [], [], []
    for proposal in proposals:
        check = _check_for(proposal, context)
        if not ACTION_CLASSES[proposal.action].changes_state:
            diagnostics.append(proposal)
        elif check is not None and check.running is False:
            first.append(proposal)
        elif check is not None and check.running:
            last.append(proposal)
        else:
            middle.append(proposal)
    return [*diagnostics, *first, *middle, *last]


def check_fact(check: DaemonCheck) -> Localized:
    """State, in both languages, what jps showed on the daemon's node."""
    process = jps_name(check.daemon)
    if check.running:
        return Localized(
            zh=f"在 {check.node} 上运行 jps：{process} 正在运行。", en=f"jps on {check.node} lists {process}."
        )
    if check.running is False:
        return Localized(
            zh=f"在 {check.node} 上运行 jps：没有 {process} 进程，{process} 未运行。",
            en=f"jps on {check.node} does not list {process}, so {process} is not running.",
        )
    return Localized(
        zh=f"未能在 {check.node} 上用 jps 检查 {process}（{check.detail}）。",
        en=f"jps on {check.node} could not check {process} ({check.detail}).",
    )


def check_note(check: DaemonCheck, reporting: str) -> Localized:
    """Explain what jps showed and where that puts the proposal that restarts the daemon."""
    process = jps_name(check.daemon)
    if check.running:
        consequence = Localized(
            zh=f"故障更可能出在 {reporting} 一侧或两者之间的网络，重启 {process} 不太可能消除故障，因此排在最后；"
            "只有在手动修正其地址或主机名之后才需要重启。",
            en=f"The fault more likely lies on the side of {reporting} or the network between them. Restarting "
            f"{process} is unlikely to clear it, so this proposal comes last. Restart it only after fixing its "
            "address or host name by hand.",
        )
    elif check.running is False:
        consequence = Localized(zh="因此先启动它。", en="This proposal therefore comes first.")
    else:
        consequence = None
    return join(check_fact(check), consequence) or check_fact(check)


def checks_summary(context: DiagnosisContext) -> Localized | None:
    """Describe what every daemon check of the context showed, or None when there was none."""
    return join(*(check_fact(check) for check in context.daemon_checks))


def placement_steps(context: DiagnosisContext, dropped: list[tuple[str, Localized]], lang: str) -> list[DiagnosisStep]:
    """Return a step per daemon check and per proposal that no node fits, in ``lang``."""
    steps = [
        DiagnosisStep(
            action="在守护进程所在节点运行 jps" if lang == "zh" else "Run jps on the daemon's node",
            content=f"jps on {check.node}",
            result=check_fact(check).get(lang),
        )
        for check in context.daemon_checks
    ]
    label = "不适用的修复建议" if lang == "zh" else "Proposal not applicable"
    steps += [DiagnosisStep(action=label, content=action_id, result=reason.get(lang)) for action_id, reason in dropped]
    return steps


def checks_conclusion(context: DiagnosisContext) -> Localized | None:
    """Return what the first daemon check with a result implies for the cause, or None without one."""
    check = next((check for check in context.daemon_checks if check.running is not None), None)
    if check is None:
        return None
    process = jps_name(check.daemon)
    if check.running:
        reporting = reporting_node(context)
        return Localized(
            zh=f"{check.node} 上的 {process} 正在运行，故障更可能出在 {reporting} 一侧或两者之间的网络。",
            en=f"{process} runs on {check.node}, so the fault more likely lies on the side of {reporting} or the "
            "network between them.",
        )
    return Localized(
        zh=f"{check.node} 上的 {process} 未运行（jps 没有列出它）。",
        en=f"{process} is not running on {check.node} (jps does not list it).",
    )
