"""Settings of the faults service, read from ``HFD_FAULTS_*`` environment variables."""

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class FaultsSettings(BaseSettings):
    """Incident life cycle, evidence limits, retention and consumer sizes."""

    model_config = SettingsConfigDict(env_prefix="HFD_FAULTS_", extra="ignore")

    quiet_minutes: float = Field(
        default=30.0,
        gt=0,
        description="An incident with no new occurrence for this many minutes resolves by itself.",
    )
    reopen_grace_minutes: float = Field(
        default=10.0,
        ge=0,
        description="A new occurrence within this many minutes after a resolution reopens that incident; "
        "later occurrences open a new incident. 0 never reopens.",
    )
    update_throttle_seconds: float = Field(
        default=30.0,
        ge=0,
        description="At most one 'updated' event per incident in this many seconds, unless the count "
        "crosses a power of ten.",
    )
    evidence_recent: int = Field(default=5, ge=1, le=50, description="Most recent evidence records kept.")
    evidence_max_chars: int = Field(default=2000, ge=100, le=20000, description="Characters kept per evidence record.")
    max_source_files: int = Field(default=20, ge=1, le=200, description="Source files listed per incident.")
    log_retention_hours: float = Field(default=72.0, gt=0, description="Hours a stored WARN+ log record is kept.")
    log_info_max_chars: int = Field(default=4000, ge=200, le=65536, description="Characters kept per log record.")
    processed_retention_hours: float = Field(
        default=24.0,
        gt=2,
        description="Hours a processed-message key is kept; longer than the two-hour JetStream duplicate window.",
    )
    maintenance_seconds: float = Field(
        default=5.0, gt=0, description="Interval of the background work: auto-resolution, retention, gauges."
    )
    consumer_batch: int = Field(default=100, ge=1, le=1000, description="Messages fetched per consumer batch.")
    ack_wait_seconds: float = Field(
        default=60.0,
        ge=1,
        description="Seconds JetStream waits for an acknowledgement before it delivers a message again; "
        "longer than a batch takes. Set when the durable consumer is created.",
    )
    delete_batch: int = Field(default=5000, ge=100, le=100000, description="Rows deleted per retention statement.")
    lease_ttl: float = Field(
        default=15.0,
        ge=2,
        le=3600,
        description="Seconds after its last renewal that the consumers lease of a faults replica expires; "
        "a standby replica takes over the consumers after that. Fixed when the key-value bucket is created.",
    )
    lease_renew_interval: float = Field(
        default=5.0, gt=0, le=600, description="Seconds between renewals of the consumers lease, and between "
        "attempts of a standby replica to take it.",
    )

    @model_validator(mode="after")
    def check_lease_timing(self) -> "FaultsSettings":
        if self.lease_renew_interval >= self.lease_ttl:
            raise ValueError(
                f"HFD_FAULTS_LEASE_RENEW_INTERVAL ({self.lease_renew_interval}) must be shorter than "
                f"HFD_FAULTS_LEASE_TTL ({self.lease_ttl}), or the lease expires between renewals"
            )
        return self


@lru_cache
def get_settings() -> FaultsSettings:
    """Return the process-wide faults settings."""
    return FaultsSettings()
