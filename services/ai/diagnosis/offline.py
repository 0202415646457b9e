"""The offline diagnoser: the fault catalog's playbook, filled with the incident's evidence.

It needs no network and takes milliseconds, so it is used when no model is configured, when
the model's API fails, and when a cluster is over its model budget.
"""

import logging

from libs.common.catalog import FaultKind
from services.ai.diagnosis.base import (
    Diagnosis,
    DiagnosisContext,
    DiagnosisStep,
    IncidentInfo,
    Language,
    Localized,
)
from services.ai.diagnosis.extract import EvidenceFacts, extract_facts
from services.ai.incident_playbook import incident_playbook
from services.ai.playbook import find_kind
from services.ai.repairs.placement import checks_conclusion, checks_summary, place_all, placement_steps

logger = logging.getLogger(__name__)

MAX_EVIDENCE_LINES = 5
MAX_LINE_CHARS = 400

_FACT_LABELS = {
    "address": ("地址", "address"),
    "host": ("主机", "host"),
    "port": ("端口", "port"),
    "path": ("路径", "path"),
}


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{index}. {item}" for index, item in enumerate(items, start=1))


def _clip(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def _facts_text(facts: dict[str, str]) -> Localized | None:
    if not facts:
        return None
    zh = "，".join(f"{_FACT_LABELS[name][0]} {value}" for name, value in facts.items())
    en = ", ".join(f"{_FACT_LABELS[name][1]} {value}" for name, value in facts.items())
    return Localized(zh=f"证据指向：{zh}。", en=f"The evidence points at {en}.")


def _what_happened(
    kind: FaultKind, incident: IncidentInfo | None, facts: Localized | None, line: str | None, checks: Localized | None
) -> Localized:
    if incident is None:
        zh = "在所选范围内没有找到未解决的故障事件。"
        en = "No open incident was found in the selected range."
        return Localized(zh=zh, en=en)

    since = incident.first_seen.isoformat(timespec="seconds") if incident.first_seen else "?"
    zh = f"节点 {incident.node} 上出现「{kind.title.zh}」，自 {since} 起共 {incident.count} 次。{kind.description.zh}"
    en = f"{kind.title.en} on node {incident.node}: {incident.count} occurrence(s) since {since}. {kind.description.en}"
    if facts is not None:
        zh, en = f"{zh}\n{facts.zh}", f"{en}\n{facts.en}"
    if line:
        zh, en = f"{zh}\n首条证据：{_clip(line)}", f"{en}\nFirst evidence line: {_clip(line)}"
    if checks is not None:
        zh, en = f"{zh}\n{checks.zh}", f"{en}\n{checks.en}"
    return Localized(zh=zh, en=en)


def _what_to_do(kind: FaultKind, facts: Localized | None, manual: list[Localized]) -> Localized:
    """List the playbook's checks and steps, and after the steps ``manual``, the actions left to a person."""
    playbook = kind.playbook
    zh_parts = ["检查：", _numbered([item.zh for item in playbook.checks])]
    zh_parts += ["处理：", _numbered([item.zh for item in [*playbook.steps, *manual]])]
    en_parts = ["Check:", _numbered([item.en for item in playbook.checks])]
    en_parts += ["Fix:", _numbered([item.en for item in [*playbook.steps, *manual]])]
    if playbook.manual_only:
        zh_parts += ["仅限人工：", _numbered([item.zh for item in playbook.manual_only])]
        en_parts += ["Only a person may:", _numbered([item.en for item in playbook.manual_only])]
    if facts is not None:
        zh_parts.insert(0, facts.zh)
        en_parts.insert(0, facts.en)
    return Localized(zh="\n".join(zh_parts), en="\n".join(en_parts))


def _summary(
    kind: FaultKind, incident: IncidentInfo | None, facts: dict[str, str], checked: Localized | None
) -> Localized:
    """Name the fault and its most likely cause: what a daemon check showed, else the playbook's first cause."""
    if incident is None:
        return Localized(zh="未发现未解决的故障", en="No open fault found")
    where = next((facts[name] for name in ("address", "path", "host", "port") if name in facts), "")
    zh = f"{incident.node}：{kind.title.zh}" + (f"（{where}）" if where else "")
    en = f"{incident.node}: {kind.title.en}" + (f" ({where})" if where else "")
    if checked is not None:
        return Localized(zh=f"{zh}。{checked.zh}", en=f"{en}. {checked.en}")
    cause = kind.playbook.causes[0]
    return Localized(zh=f"{zh}。最可能的原因：{cause.zh}", en=f"{en}. Most likely cause: {cause.en}")


def _steps(incident: IncidentInfo | None, kind: FaultKind, facts: EvidenceFacts, lang: Language) -> list[DiagnosisStep]:
    if incident is None:
        action = "查找故障事件" if lang == "zh" else "Look up incidents"
        return [DiagnosisStep(action=action, content="incidents.list", result="0")]

    first_line = _clip(incident.evidence[0]) if incident.evidence else ""
    match_result = kind.title.get(lang)
    return [
        DiagnosisStep(
            action="读取故障证据" if lang == "zh" else "Read the incident evidence",
            content=f"incident {incident.incident_id} ({len(incident.evidence)} lines)",
            result=first_line,
        ),
        DiagnosisStep(
            action="匹配故障手册" if lang == "zh" else "Match the fault playbook",
            content=kind.kind,
            result=match_result,
        ),
        DiagnosisStep(
            action="提取证据要点" if lang == "zh" else "Extract facts from the evidence",
            content=facts.line and _clip(facts.line) or "",
            result=", ".join(f"{name}={value}" for name, value in facts.selected(kind.kind).items()) or "-",
        ),
    ]


class OfflineDiagnoser:
    """Explains an incident from its catalog playbook and the facts in its evidence."""

    name = "offline"

    def __init__(self, extra_safe: frozenset[str] = frozenset()) -> None:
        self.extra_safe = extra_safe

    async def diagnose(self, context: DiagnosisContext, lang: Language, max_steps: int = 3) -> Diagnosis:
        return self.diagnose_now(context, lang)

    def diagnose_now(self, context: DiagnosisContext, lang: Language = "zh") -> Diagnosis:
        """Build the diagnosis synchronously; ``diagnose`` wraps this for the common interface."""
        incident = context.incident
        kind = find_kind(incident.kind if incident else None)
        evidence = [_clip(line) for line in (incident.evidence if incident else [])][:MAX_EVIDENCE_LINES]
        facts = extract_facts(incident.evidence if incident else [])
        selected = facts.selected(kind.kind)
        facts_text = _facts_text(selected)
        playbook = incident_playbook(kind, incident)
        manual = playbook.manual_steps if incident else []
        proposals, dropped = place_all(kind, playbook.proposals(self.extra_safe), context) if incident else ([], [])

        diagnosis = Diagnosis(
            kind=incident.kind if incident else None,
            summary=_summary(kind, incident, selected, checks_conclusion(context)),
            what_happened=_what_happened(kind, incident, facts_text, facts.line, checks_summary(context)),
            evidence=evidence,
            why=Localized(
                zh=_numbered([cause.zh for cause in kind.playbook.causes]),
                en=_numbered([cause.en for cause in kind.playbook.causes]),
            ),
            what_to_do=_what_to_do(kind, facts_text, [step for _, step in manual]),
            steps=[*_steps(incident, kind, facts, lang), *placement_steps(context, [*manual, *dropped], lang)],
            proposed_actions=proposals,
            diagnoser="offline",
        )
        logger.debug("offline diagnosis built cluster=%s kind=%s", context.cluster, kind.kind)
        return diagnosis
