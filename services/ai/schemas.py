"""Request and response models of the AI service's endpoints."""

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from libs.common.field_errors import describe_format

NODE_NAME = describe_format(
    r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252}[A-Za-z0-9])?$",
    zh="主机名:1-254 个字母、数字、. 或 -,首尾为字母或数字",
    en="a host name of 1-254 letters, digits, . or -, starting and ending with a letter or digit",
)
CLUSTER_REF = describe_format(
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$",
    zh="集群 UUID 或名称:1-100 个字母、数字或 _ . -,以字母或数字开头",
    en="a cluster uuid or name of 1-100 letters, digits, _ . or -, starting with a letter or digit",
)
SESSION_ID = describe_format(
    r"^[A-Za-z0-9_-]{1,64}$", zh="1-64 个字母、数字、_ 或 -", en="1-64 letters, digits, _ or -"
)
ID_PATTERN = describe_format(
    r"^[A-Za-z0-9_.:-]{1,64}$", zh="1-64 个字母、数字或 _ . : -", en="1-64 letters, digits, _ . : or -"
)
MAX_CHAT_CHARS = 100_000
MAX_CHAT_MESSAGES = 100
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# JSON can carry lone UTF-16 surrogates ("\udbd4"), which no UTF-8 encoder accepts downstream.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def check_text(value: str | None) -> str | None:
    """Reject text with lone surrogates or control characters (NUL included), which PostgreSQL cannot store."""
    if value is not None and _SURROGATE_RE.search(value):
        raise ValueError("text must be valid Unicode (no lone surrogates)")
    if value is not None and _CONTROL_RE.search(value):
        raise ValueError("text must not contain control characters other than tab and newline")
    return value


class DiagnoseRepairRequest(BaseModel):
    """Body of ``POST /ai/diagnose-repair``: what to diagnose and whether repairs may run."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    cluster: str | None = Field(default=None, pattern=CLUSTER_REF, description="Cluster uuid (or name).")
    node: str | None = Field(default=None, pattern=NODE_NAME, description="Host name of the node.")
    time_from: datetime | None = Field(default=None, alias="timeFrom", description="ISO start time.")
    keywords: str | None = Field(default=None, max_length=200, description="Words the evidence should contain.")
    auto: bool = Field(default=True, description="Allow repairs, as far as the cluster policy and the role allow.")
    max_steps: int = Field(default=3, ge=1, le=6, alias="maxSteps", description="Model requests, 1 to 6.")

    @field_validator("time_from")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_text(value)
        return value.strip() or None


class StepOut(BaseModel):
    action: str
    content: str
    result: str


class RepairOut(BaseModel):
    success: bool
    details: str


class ProposedActionOut(BaseModel):
    """A proposal of a diagnosis, with the repair record that tracks it."""

    repairId: str | None
    actionId: str
    action: str
    params: dict[str, Any]
    safe: bool
    title: str
    status: str
    node: str = Field(description="Node the action runs on, chosen by the roles inventory stores.")
    nodeNote: str | None = Field(default=None, description="Why the action runs on that node, when worth telling.")


class DiagnoseRepairResponse(BaseModel):
    """The contract's response, plus ``summary`` (client-compat) and the diagnosis ids."""

    result: str
    summary: str
    steps: list[StepOut]
    repair: RepairOut
    diagnosisId: str
    incidentId: str | None
    diagnoser: str
    proposedActions: list[ProposedActionOut]


class ChatMessageIn(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=20_000)

    _valid_content = field_validator("content")(check_text)


class ChatRequest(BaseModel):
    """Body of ``POST /ai/chat``: the contract's ``messages``, or the web client's ``sessionId`` and ``message``."""

    model_config = ConfigDict(extra="ignore")

    messages: list[ChatMessageIn] | None = Field(
        default=None, max_length=MAX_CHAT_MESSAGES, description=f"At most {MAX_CHAT_MESSAGES} messages."
    )
    sessionId: str | None = Field(default=None, pattern=SESSION_ID)
    message: str | None = Field(default=None, min_length=1, max_length=20_000)
    stream: bool = False

    _valid_message = field_validator("message")(check_text)

    @model_validator(mode="after")
    def _one_form(self) -> "ChatRequest":
        if not self.message and not self.messages:
            raise ValueError("give either messages or message")
        if self.messages is not None and not any(item.role == "user" for item in self.messages):
            raise ValueError("messages must contain at least one user message")
        # The whole request travels in one NATS message, whose default limit is 1 MiB.
        if self.messages is not None and sum(len(item.content) for item in self.messages) > MAX_CHAT_CHARS:
            raise ValueError(f"messages may hold at most {MAX_CHAT_CHARS} characters in total")
        return self


class HistoryQuery(BaseModel):
    sessionId: str = Field(pattern=SESSION_ID)


class IdParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=ID_PATTERN)


class RepairsQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cluster: str | None = Field(default=None, pattern=CLUSTER_REF)
    status: Literal["pending", "running", "succeeded", "failed", "rejected", "skipped"] | None = None
    limit: int = Field(default=100, ge=1, le=500)


class RepairDecisionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str | None = Field(default=None, max_length=500)
