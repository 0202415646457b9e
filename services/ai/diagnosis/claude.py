"""The Claude diagnoser: the model investigates with read-only tools and returns its conclusion as JSON."""

import json
import logging
import re
from typing import Any

from anthropic import AsyncAnthropic
from pydantic import BaseModel, Field, ValidationError

from services.ai.config import AiSettings
from services.ai.diagnosis.base import (
    Diagnosis,
    DiagnosisContext,
    DiagnosisStep,
    Language,
    Localized,
    ProposedAction,
)
from services.ai.diagnosis.llm import LlmUnavailable, ToolLoop
from services.ai.diagnosis.prompts import DIAGNOSIS_SYSTEM, render_context
from services.ai.diagnosis.tools import ToolBox
from services.ai.incident_playbook import incident_playbook
from services.ai.playbook import find_kind, to_proposal
from services.ai.repairs.actions import build_action
from services.ai.repairs.placement import order_by_checks, place, placement_steps
from services.ai.upstream import Upstream

logger = logging.getLogger(__name__)

_JSON_OBJECT_RE = re.compile(r"\{.*\}", re.DOTALL)


class _Text(BaseModel):
    zh: str = Field(min_length=1, max_length=6000)
    en: str = Field(min_length=1, max_length=6000)


class _Choice(BaseModel):
    action_id: str = Field(max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)
    node: str | None = Field(
        default=None, max_length=255, description="Node to run the action on, if the model names one."
    )


class ModelAnswer(BaseModel):
    """The JSON object that the system prompt requests from the model."""

    summary: _Text
    what_happened: _Text
    why: _Text
    what_to_do: _Text
    evidence: list[str] = Field(default_factory=list, max_length=20)
    proposed_actions: list[_Choice] = Field(default_factory=list, max_length=10)


def parse_answer(text: str) -> ModelAnswer:
    """Find the JSON object in the model's text and validate it; raise ValueError when absent or invalid."""
    match = _JSON_OBJECT_RE.search(text)
    if match is None:
        raise ValueError("the answer contains no JSON object")
    try:
        return ModelAnswer.model_validate(json.loads(match.group(0)))
    except (json.JSONDecodeError, ValidationError) as error:
        raise ValueError(f"the answer's JSON is invalid: {error}") from None


def choose_actions(
    kind_name: str | None,
    choices: list[_Choice],
    lang: Language,
    extra_safe: frozenset[str] = frozenset(),
    context: DiagnosisContext | None = None,
) -> tuple[list[ProposedAction], list[DiagnosisStep]]:
    """Keep the model's choices that name a playbook action of the kind with matching parameters.

    The playbook's ``'{daemon}'`` is filled in from the context's incident
    (``incident_playbook.py``), so a choice names the daemon, as in ``restart_daemon:datanode``.
    With a context, each kept choice is placed on a node (``repairs/placement.py``): the node the
    model named when it runs the daemon the action concerns, else the node that does, and
    dropped when no node does. Returns the accepted proposals and one step per rejected
    choice, so the rejection shows.
    """
    kind = find_kind(kind_name)
    allowed = incident_playbook(kind, context.incident if context is not None else None).by_id()
    accepted: list[ProposedAction] = []
    rejected: list[DiagnosisStep] = []
    label = "拒绝的修复建议" if lang == "zh" else "Rejected proposal"

    for choice in choices:
        action = allowed.get(choice.action_id)
        if action is None:
            rejected.append(DiagnosisStep(action=label, content=choice.action_id, result="not in the playbook"))
            continue
        params = {**action.params, **choice.params}
        try:
            typed = build_action(action.action, params)
        except (KeyError, ValidationError):
            rejected.append(DiagnosisStep(action=label, content=choice.action_id, result="invalid parameters"))
            continue
        if typed.model_dump() != build_action(action.action, dict(action.params)).model_dump():
            rejected.append(
                DiagnosisStep(action=label, content=choice.action_id, result="parameters differ from the playbook")
            )
            continue
        if any(existing.action_id == choice.action_id for existing in accepted):
            continue
        proposal = to_proposal(kind, action, extra_safe)
        if context is not None:
            placed, reason = place(kind, proposal, context, requested=choice.node)
            if placed is None:
                result = reason.get(lang) if reason else "no node fits"
                rejected.append(DiagnosisStep(action=label, content=choice.action_id, result=result))
                continue
            proposal = placed
        accepted.append(proposal)
    if context is not None:
        accepted = order_by_checks(accepted, context)
    return accepted, rejected


def _with_manual_steps(what_to_do: Localized, manual: list[tuple[str, Localized]]) -> Localized:
    """Append the playbook actions left to a person, which the model could not propose, to its advice."""
    if not manual:
        return what_to_do
    zh = "\n".join(step.zh for _, step in manual)
    en = "\n".join(step.en for _, step in manual)
    return Localized(zh=f"{what_to_do.zh}\n需人工处理：\n{zh}", en=f"{what_to_do.en}\nFor a person:\n{en}")


class ClaudeDiagnoser:
    """Diagnoses through the Messages API with the read-only tools."""

    name = "claude"

    def __init__(self, client: AsyncAnthropic, settings: AiSettings, upstream: Upstream) -> None:
        self.client = client
        self.settings = settings
        self.upstream = upstream

    def _toolbox(self, context: DiagnosisContext) -> ToolBox:
        return ToolBox(
            self.upstream,
            context.principal,
            context.node.cluster_uuid if context.node else context.cluster,
            output_limit=self.settings.tool_output_max_chars,
            command_timeout=self.settings.tool_timeout_seconds,
            fault_id=context.incident.incident_id if context.incident else None,
        )

    async def diagnose(self, context: DiagnosisContext, lang: Language, max_steps: int) -> Diagnosis:
        kind = find_kind(context.kind)
        loop = ToolLoop(self.client, self.settings, self._toolbox(context))
        extra_safe = frozenset(self.settings.extra_safe_actions)
        messages = [{"role": "user", "content": render_context(context, kind, extra_safe)}]
        result = await loop.run(DIAGNOSIS_SYSTEM, messages, max_steps)

        try:
            answer = parse_answer(result.text)
        except ValueError as error:
            logger.warning("model response rejected cluster=%s kind=%s error=%s", context.cluster, context.kind, error)
            raise LlmUnavailable("invalid_answer", result.steps, result.tokens) from error

        proposals, rejected = choose_actions(context.kind, answer.proposed_actions, lang, extra_safe, context)
        manual = incident_playbook(kind, context.incident).manual_steps if context.incident else []
        evidence = answer.evidence or (context.incident.evidence[:5] if context.incident else [])
        return Diagnosis(
            kind=context.kind,
            summary=Localized(**answer.summary.model_dump()),
            what_happened=Localized(**answer.what_happened.model_dump()),
            evidence=[line[:500] for line in evidence],
            why=Localized(**answer.why.model_dump()),
            what_to_do=_with_manual_steps(Localized(**answer.what_to_do.model_dump()), manual),
            steps=[*placement_steps(context, manual, lang), *result.steps, *rejected],
            proposed_actions=proposals,
            diagnoser="claude",
            tokens_used=result.tokens,
        )
