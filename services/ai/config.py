"""Settings of the AI service, read from ``HFD_AI_*`` environment variables.

The Anthropic key and base URL also accept the SDK's own variable names
(``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``), so an existing setup keeps working.
"""

from functools import lru_cache
from pathlib import PurePosixPath

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AiSettings(BaseSettings):
    """The model, its budget per cluster, tool bounds and repair limits."""

    model_config = SettingsConfigDict(env_prefix="HFD_AI_", extra="ignore")

    model: str = Field(default="claude-sonnet-4-5", description="Anthropic model id used for diagnoses and chat.")
    anthropic_api_key: str = Field(
        default="",
        validation_alias=AliasChoices("HFD_AI_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        repr=False,
        description="API key; when empty, diagnoses use the offline diagnoser and chat returns 503.",
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HFD_AI_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"),
        description="Messages API base URL; unset means the SDK's default.",
    )
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Timeout of one API request.")
    max_retries: int = Field(default=2, ge=0, le=10, description="SDK retries of a failed API request.")
    max_output_tokens: int = Field(default=2048, ge=256, le=16384, description="max_tokens of one model turn.")

    model_for_events: bool = Field(
        default=True, description="Diagnose FAULTS events with the model; false keeps the model for people's requests."
    )
    max_diagnoses_per_cluster_per_hour: int = Field(
        default=30, ge=0, description="Model diagnoses per cluster in a rolling hour; more go offline."
    )
    max_tokens_per_cluster_per_day: int = Field(
        default=500_000, ge=0, description="Model tokens (input and output) per cluster in a rolling day."
    )
    rediagnose_growth_factor: float = Field(
        default=2.0, gt=1.0, description="An incident is diagnosed again once its count reaches this multiple."
    )

    rediagnose_min_new_occurrences: int = Field(
        default=10, ge=1, description="New occurrences needed, besides the growth factor, to diagnose again."
    )
    rediagnose_min_interval_seconds: int = Field(
        default=600, ge=0, description="Minimum seconds between two diagnoses of a growing incident."
    )
    tool_output_max_chars: int = Field(default=6000, ge=200, le=100_000, description="Bound of one tool result.")
    tool_timeout_seconds: int = Field(default=30, ge=1, le=300, description="Timeout of one diagnostic command.")
    log_tail_lines: int = Field(default=200, ge=10, le=5000, description="Lines a log tool reads at most.")
    context_log_lines: int = Field(default=40, ge=0, le=1000, description="Recent log lines put in the context.")

    temp_roots: list[str] = Field(
        # Hadoop's default hadoop.tmp.dir on the nodes; this service creates no files there.
        default_factory=lambda: ["/tmp/hadoop-{user}"],  # noqa: S108
        description="Folders on the nodes inside which clean_temp_dir may run (HFD_AI_TEMP_ROOTS, a JSON list); "
        "{node} and {user} become the node's name and SSH user. The first is the node's hadoop.tmp.dir.",
    )
    extra_safe_actions: list[str] = Field(
        default_factory=list,
        description="Playbook actions to treat as safe beyond the catalog's marks, as 'kind:action_id' "
        "(e.g. 'namenode_safe_mode:leave_safe_mode'); under the 'auto' policy these run without a person.",
    )
    repair_check_window_seconds: float = Field(
        default=20.0, ge=0, le=3600, description="Quiet time after a repair before the incident counts as cleared."
    )
    repair_ingest_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Occurrences received this long after a repair may predate it (collection lag) and are ignored.",
    )
    repair_command_timeout_seconds: int = Field(default=60, ge=1, le=600, description="Timeout of a repair command.")
    # A state-changing repair runs its commands and then waits the ingest grace plus the check
    # window (30 s by default), so 60 s covers one such run whose commands take under 30 s. The
    # gateway waits 300 s for an AI operation, and the bound of 120 s leaves most of that to the repair.
    repair_lock_timeout_seconds: float = Field(
        default=60.0,
        ge=0,
        le=120,
        description="Seconds (0-120) a repair that a person starts or approves waits while another run repairs "
        "the same cluster or incident; after that the request fails with 409 cluster_repair_running and the repair "
        "stays pending.",
    )
    event_max_steps: int = Field(default=3, ge=1, le=6, description="Model requests of an unattended diagnosis.")
    chat_max_steps: int = Field(default=4, ge=1, le=6, description="Model requests of one chat reply.")
    consumer_batch: int = Field(default=20, ge=1, le=500, description="FAULTS events fetched per batch.")
    ack_wait_seconds: float = Field(
        default=30.0,
        ge=3,
        le=3600,
        description="Seconds JetStream waits for an acknowledgement of a FAULTS batch before it delivers the "
        "batch again, to another replica when this one died. A replica working on a batch marks it in progress "
        "every third of this. Set when the durable consumer is created.",
    )
    chat_history_messages: int = Field(default=20, ge=2, le=200, description="Stored chat messages sent as context.")

    @field_validator("temp_roots")
    @classmethod
    def _check_temp_roots(cls, roots: list[str]) -> list[str]:
        for root in roots:
            path = PurePosixPath(root.replace("{node}", "node").replace("{user}", "user"))
            if not path.is_absolute() or ".." in path.parts or len(path.parts) < 3:
                raise ValueError(f"temp root {root!r} must be an absolute path at least two folders deep, without ..")
        return [root.rstrip("/") for root in roots]

    @property
    def llm_configured(self) -> bool:
        return bool(self.anthropic_api_key)


@lru_cache
def get_ai_settings() -> AiSettings:
    """Return the process-wide AI settings."""
    return AiSettings()
