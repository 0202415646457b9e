"""Pydantic models of the fault catalog: fault kinds, their signatures and repair playbooks."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Severity = Literal["critical", "error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
Level = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

KIND_NAME_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
# The node role names that inventory accepts.
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

# Repair actions that the faults service knows how to run, with the parameters each requires.
ACTION_PARAMS: dict[str, frozenset[str]] = {
    "restart_daemon": frozenset({"daemon"}),
    "leave_safe_mode": frozenset(),
    "clean_temp_dir": frozenset({"root"}),
    "raise_setting_and_restart": frozenset({"file", "key", "value", "daemon"}),
    "run_diagnostic": frozenset({"command"}),
}
DIAGNOSTIC_COMMANDS = frozenset({"hdfs_report", "safemode_get", "yarn_nodes", "jps", "df", "free"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(_Strict):
    """A text in Chinese (shown by default) and English."""

    zh: NonEmpty
    en: NonEmpty

    def get(self, lang: str) -> str:
        """Return the text in ``lang`` ("zh" or "en"); other languages get Chinese."""
        return self.en if lang == "en" else self.zh


class RepairAction(_Strict):
    """A typed repair action referenced by id; the faults service implements and runs it."""

    action: Literal["restart_daemon", "leave_safe_mode", "clean_temp_dir", "raise_setting_and_restart",
                    "run_diagnostic"]
    safe: bool
    params: dict[str, str | int | bool] = Field(default_factory=dict)
    node_role: Annotated[str, StringConstraints(pattern=ROLE_NAME_PATTERN)] | None = Field(
        default=None,
        description="Inventory role (a daemon name such as namenode) of the node the action runs on. "
        "Unset: the node that runs the daemon the action names, else the node that reported the fault.",
    )

    @model_validator(mode="after")
    def _check_params(self) -> RepairAction:
        required = ACTION_PARAMS[self.action]
        missing = sorted(required - self.params.keys())
        unknown = sorted(self.params.keys() - required)
        if missing:
            raise ValueError(f"action {self.action} is missing params {missing}")
        if unknown:
            raise ValueError(f"action {self.action} does not take params {unknown}")
        if self.action == "run_diagnostic" and self.params["command"] not in DIAGNOSTIC_COMMANDS:
            allowed = sorted(DIAGNOSTIC_COMMANDS)
            raise ValueError(f"run_diagnostic command {self.params['command']!r} is not one of {allowed}")
        return self


class Playbook(_Strict):
    """What an operator reads and runs to fix a fault."""

    causes: list[LocalizedText] = Field(min_length=1)
    checks: list[LocalizedText] = Field(min_length=1)
    steps: list[LocalizedText] = Field(min_length=1)
    manual_only: list[LocalizedText] = Field(default_factory=list)
    actions: list[RepairAction] = Field(default_factory=list)


class PatternSpec(_Strict):
    """A signature that counts only when it repeats: ``min_count`` matches within ``window_seconds``.

    Repetition is counted per (cluster, node, source), so one stray reset or timeout in a
    healthy cluster does not open an incident.
    """

    regex: NonEmpty
    min_count: int = Field(default=1, ge=1, le=10_000)
    window_seconds: float = Field(default=300.0, gt=0, le=86_400)


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error


def _as_spec(value: Any) -> Any:
    return {"regex": value} if isinstance(value, str) else value


class _Signatures(_Strict):
    patterns: list[PatternSpec] = Field(default_factory=list)
    exclude_patterns: list[NonEmpty] = Field(default_factory=list)

    @field_validator("patterns", mode="before")
    @classmethod
    def _normalise_patterns(cls, value: Any) -> Any:
        return [_as_spec(item) for item in value] if isinstance(value, list) else value

    @field_validator("patterns")
    @classmethod
    def _compile_patterns(cls, value: list[PatternSpec]) -> list[PatternSpec]:
        for spec in value:
            _compile(spec.regex)
        return value

    @field_validator("exclude_patterns")
    @classmethod
    def _compile_excludes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            _compile(pattern)
        return value


class FaultKind(_Signatures):
    """One kind of fault: its identity, texts, signatures and playbook.

    ``patterns`` are regular expressions searched in the whole record text (header line and
    stack trace). A plain string is a pattern with ``min_count`` 1. ``levels``, when set,
    limits the patterns to records of those log levels. ``also_report`` names kinds that are
    reported beside this one when they match the same record, because this kind is their
    cause (an unresolvable NameNode host also makes the NameNode unreachable).
    """

    kind: Annotated[str, StringConstraints(pattern=KIND_NAME_PATTERN)]
    severity: Severity
    daemons: list[NonEmpty] = Field(min_length=1)
    priority: int = Field(ge=0, le=1000)
    title: LocalizedText
    description: LocalizedText
    levels: list[Level] | None = None
    also_report: list[Annotated[str, StringConstraints(pattern=KIND_NAME_PATTERN)]] = Field(default_factory=list)
    max_evidence: int = Field(default=5, ge=1, le=100)
    playbook: Playbook


class KindExtension(_Signatures):
    """Extra signatures for a kind defined elsewhere (an operator's site-specific wording)."""

    kind: Annotated[str, StringConstraints(pattern=KIND_NAME_PATTERN)]
