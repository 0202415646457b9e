"""Settings of the inventory service, read from ``HFD_INVENTORY_*`` environment variables."""

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.i18n import message
from libs.common.log_dirs import check_log_dir


class InventorySettings(BaseSettings):
    """Metric retention, node status thresholds and the calls to the collector."""

    model_config = SettingsConfigDict(env_prefix="HFD_INVENTORY_", extra="ignore")

    metric_retention_hours: float = Field(
        default=72, gt=0, le=24 * 365, description="Age in hours after which metric samples are deleted."
    )
    retention_interval_seconds: float = Field(
        default=300, gt=0, le=86400, description="Seconds between two runs of the retention and staleness sweep."
    )
    retention_batch_size: int = Field(
        default=5000, ge=100, le=100_000, description="Samples deleted per transaction by the retention sweep."
    )
    heartbeat_timeout_seconds: float = Field(
        default=600,
        gt=0,
        description="A node whose latest sample is older than this many seconds gets status 'unknown'.",
    )
    warning_percent: float = Field(
        default=90, gt=0, le=100, description="CPU, memory or disk usage (percent) at which a node is 'warning'."
    )
    max_future_seconds: float = Field(
        default=300, ge=0, description="Samples stamped more than this many seconds ahead of now are dropped."
    )
    unknown_node_wait_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="Seconds an event naming an unknown node is retried before it is dropped.",
    )
    consumer_batch: int = Field(default=200, ge=1, le=1000, description="METRICS messages stored per transaction.")
    # NOTE: the gateway returns 503 after HFD_GATEWAY_RPC_TIMEOUT_SECONDS (10 by default), so
    # these two timeouts stay below it. Raise all three together when the collector needs longer.
    collector_timeout_seconds: float = Field(
        default=5, gt=0, le=120, description="Seconds allowed for the collector to store one node's credentials."
    )
    discover_timeout_seconds: float = Field(
        default=8, gt=0, le=600, description="Seconds allowed for the collector to list a cluster's worker nodes."
    )
    log_dir_probe_timeout_seconds: float = Field(
        default=30,
        gt=0,
        le=600,
        description="Seconds allowed for the collector to read one discovered worker's log folders off the node.",
    )
    collector_concurrency: int = Field(
        default=8, ge=1, le=64, description="Nodes registered with the collector at the same time."
    )
    default_log_dirs: list[str] = Field(
        default=["/var/log/hadoop"],
        description=(
            "Log directories of a node registered without 'log_dirs'. System folders such as /etc are rejected."
        ),
    )

    @field_validator("default_log_dirs")
    @classmethod
    def _check_default_log_dirs(cls, folders: list[str]) -> list[str]:
        """Apply the log folder rule of ``libs.common.log_dirs``, naming the folder that breaks it."""
        checked = []
        for folder in folders:
            try:
                checked.append(check_log_dir(folder))
            except PydanticCustomError as error:
                raise ValueError(f"{folder!r} is not a usable log directory: {message(error.type, 'en')}") from None
        return checked


@lru_cache
def get_inventory_settings() -> InventorySettings:
    """Return the process-wide inventory settings."""
    return InventorySettings()
