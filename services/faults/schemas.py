"""Request and response models of the faults endpoints, shared with the gateway's OpenAPI."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError, PydanticKnownError

from libs.common.field_errors import describe_format

FaultStatus = Literal["active", "acknowledged", "resolved"]
FAULT_STATUSES = ("active", "acknowledged", "resolved")
SEVERITIES = ("critical", "error", "warning", "info")
LOG_LEVELS = ("WARN", "ERROR", "FATAL")
MANUAL_KIND = "manual"
FAULT_ID_PATTERN = describe_format(
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
    zh="1-64 个字母、数字或 _ . : -,以字母或数字开头",
    en="1-64 letters, digits, _ . : or -, starting with a letter or digit",
)
MAX_PAGE = 100_000


def _choice(value: Any, choices: tuple[str, ...], *, upper: bool = False) -> str:
    text = str(value).strip()
    text = text.upper() if upper else text.lower()
    if upper and text == "WARNING":
        text = "WARN"
    if text not in choices:
        raise PydanticCustomError("invalid_choice", "must be one of {choices}", {"choices": ", ".join(choices)})
    return text


def _aware(value: datetime | None) -> datetime | None:
    """Read a time without an offset as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _parse_time(value: Any) -> Any:
    if value is None or value == "" or isinstance(value, datetime):
        return value or None
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise PydanticCustomError("invalid_time", "not an ISO 8601 time") from None


IsoTime = Annotated[datetime, BeforeValidator(_parse_time), AfterValidator(_aware)]

# C0 control characters other than tab, line feed and carriage return. PostgreSQL text cannot
# hold NUL, so a filter or title with one would fail its query instead of returning a 422.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _plain_text(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("text_control_character", "contains a control character")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(default=1, description="Page number, from 1.")
    size: int = Field(default=10, description="Items per page, 1-100.")

    @field_validator("page", mode="before")
    @classmethod
    def _check_page(cls, value: Any) -> int:
        return _bounded_int(value, 1, MAX_PAGE)

    @field_validator("size", mode="before")
    @classmethod
    def _check_size(cls, value: Any) -> int:
        return _bounded_int(value, 1, 100)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _bounded_int(value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PydanticKnownError("int_parsing") from None
    if number < low:
        raise PydanticCustomError("value_too_small", "must be at least {bound}", {"bound": low})
    if number > high:
        raise PydanticCustomError("value_too_large", "must be at most {bound}", {"bound": high})
    return number


class FaultQuery(_Page):
    """Filters of ``GET /faults``."""

    cluster: PlainText | None = Field(default=None, max_length=200, description="Cluster uuid or name.")
    node: PlainText | None = Field(default=None, max_length=255, description="Node name.")
    time_from: IsoTime | None = Field(
        default=None, description="ISO 8601 time; only incidents whose last occurrence is at or after it."
    )
    status: FaultStatus | None = Field(default=None, description="active, acknowledged or resolved.")
    type: PlainText | None = Field(default=None, max_length=64, description="Fault kind, such as disk_full.")


    @field_validator("status", mode="before")
    @classmethod
    def _check_status(cls, value: Any) -> Any:
        return None if value in (None, "") else _choice(value, FAULT_STATUSES)


class LogQuery(_Page):
    """Filters of ``GET /logs``."""

    cluster: PlainText | None = Field(default=None, max_length=200, description="Cluster uuid or name.")
    node: PlainText | None = Field(default=None, max_length=255, description="Node host name.")
    level: str | None = Field(default=None, description="WARN, ERROR or FATAL.")
    time_from: IsoTime | None = Field(default=None, description="ISO 8601 time; records logged at or after it.")


    @field_validator("level", mode="before")
    @classmethod
    def _check_level(cls, value: Any) -> Any:
        return None if value in (None, "") else _choice(value, LOG_LEVELS, upper=True)


class FaultCreate(BaseModel):
    """Body of ``POST /faults``: a fault reported by a person."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, pattern=FAULT_ID_PATTERN, description="Optional id; generated when absent.")
    type: PlainText = Field(max_length=64, description="A fault kind of the catalog, or 'manual'.")
    level: str = Field(description="Severity: critical, error, warning or info.")
    status: FaultStatus = Field(default="active", description="Initial status.")
    title: PlainText = Field(min_length=1, max_length=200)
    cluster: PlainText = Field(min_length=1, max_length=200, description="Cluster uuid or name.")
    node: PlainText = Field(default="", max_length=255, description="Node name; empty for the whole cluster.")
    created: IsoTime | None = Field(default=None, description="When the fault began (ISO 8601); default now.")


    @field_validator("level", mode="before")
    @classmethod
    def _check_level(cls, value: Any) -> str:
        return _choice(value, SEVERITIES)

    @field_validator("status", mode="before")
    @classmethod
    def _check_status(cls, value: Any) -> Any:
        return _choice(value, FAULT_STATUSES)

    @field_validator("title", "cluster")
    @classmethod
    def _strip_required(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("too_short", "must not be blank", {"limit": 1})
        return value.strip()

    @field_validator("node")
    @classmethod
    def _strip_node(cls, value: str) -> str:
        return value.strip()


class FaultUpdate(BaseModel):
    """Body of ``PUT /faults/{fid}``: a new status, a new title, or both."""

    model_config = ConfigDict(extra="ignore")

    status: FaultStatus | None = Field(default=None, description="active, acknowledged or resolved.")
    title: PlainText | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("status", mode="before")
    @classmethod
    def _check_status(cls, value: Any) -> Any:
        return None if value is None else _choice(value, FAULT_STATUSES)

    @field_validator("title")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise PydanticCustomError("too_short", "must not be blank", {"limit": 1})
        return value.strip()


class FaultItem(BaseModel):
    """One incident as ``GET /faults`` lists it: the contract's fields first, then extras."""

    id: str
    type: str
    level: str
    status: str
    title: str
    cluster: str
    node: str
    created: datetime
    cluster_name: str
    count: int
    first_seen: datetime
    last_seen: datetime
    updated: datetime
    resolved_at: datetime | None
    evidence: list[str]
    title_zh: str
    title_en: str
    origin: str
    history: list[dict[str, Any]]


class FaultDetail(FaultItem):
    """One incident with its evidence records, source files and template id."""

    evidence_records: list[dict[str, Any]]
    source_files: list[str]
    template_id: str | None


class FaultList(BaseModel):
    items: list[FaultItem]
    total: int


class LogItem(BaseModel):
    """One stored log record, in the fields the web client reads."""

    log_id: int
    id: int
    log_time: datetime
    level: str
    node_host: str
    cluster_name: str
    cluster: str
    title: str
    info: str
    log_type: str
    source_file: str


class LogList(BaseModel):
    items: list[LogItem]
    total: int


class OkReply(BaseModel):
    ok: bool = True
    id: str | None = None


class IncidentGet(BaseModel):
    """Body of the internal ``incidents.get``."""

    incident_id: str = Field(min_length=1, max_length=64)


class IncidentListQuery(BaseModel):
    """Body of the internal ``incidents.list``."""

    cluster: str | None = None
    node: str | None = None
    state: FaultStatus | Literal["open"] | None = Field(default=None, description="A status, or 'open'.")
    kind: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


class IncidentSince(BaseModel):
    """Body of the internal ``incidents.since``: did occurrences arrive after ``since``?"""

    incident_id: str = Field(min_length=1, max_length=64)
    since: IsoTime


class IncidentResolve(BaseModel):
    """Body of the internal ``incidents.resolve``: a service resolves an incident it has fixed."""

    incident_id: str = Field(pattern=FAULT_ID_PATTERN)
    reason: str = Field(
        default="repair_succeeded",
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="Code recorded as the reason in the incident's state history.",
    )
    since: IsoTime | None = Field(
        default=None,
        description="When given, the incident stays open (409 new_occurrences) if occurrences arrived after it.",
    )
