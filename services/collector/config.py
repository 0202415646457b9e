"""Settings of the collector service, from ``HFD_COLLECTOR_*`` environment variables."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import get_common_settings


class CollectorSettings(BaseSettings):
    """SSH, tailing, publishing and sampling knobs of the collector."""

    model_config = SettingsConfigDict(env_prefix="HFD_COLLECTOR_", extra="ignore")

    known_hosts: Path | None = Field(
        default=None, description="OpenSSH known_hosts file; unset means <HFD_VAR_DIR>/collector/known_hosts."
    )
    trust_on_first_use: bool = Field(
        default=False,
        description="Accept and store the first host key a node shows when none is known for it.",
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to open an SSH connection.")
    keepalive_interval: float = Field(default=15.0, gt=0, description="Seconds between SSH keepalives.")
    max_sessions_per_node: int = Field(default=4, ge=1, le=64, description="Concurrent SSH channels per node.")
    backoff_initial: float = Field(default=1.0, gt=0, description="First reconnect delay in seconds.")
    backoff_max: float = Field(default=60.0, gt=0, description="Maximum reconnect delay in seconds.")

    default_interval: int = Field(default=5, ge=1, le=3600, description="Default log poll interval in seconds.")
    active_poll_delay: float = Field(
        default=0.2, ge=0, description="Seconds between polls while a node's files keep growing."
    )
    read_chunk_bytes: int = Field(default=1_048_576, ge=4096, description="Bytes read from a file per request.")
    max_record_bytes: int = Field(
        default=512 * 1024, ge=1024, description="A record or unterminated line is cut at this many bytes."
    )
    multiline_quiet_seconds: float = Field(
        default=0.5, ge=0, description="Seconds without new bytes after which the last record of a file is complete."
    )
    discovery_interval: float = Field(default=30.0, gt=0, description="Seconds between log file listings.")

    batch_max_records: int = Field(default=100, ge=1, description="Records per LOGS message.")
    batch_max_bytes: int = Field(default=256 * 1024, ge=1024, description="Record text bytes per LOGS message.")
    ack_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a JetStream acknowledgement.")
    publish_retry_max: float = Field(default=10.0, gt=0, description="Maximum seconds between publish retries.")

    metric_interval: float = Field(default=15.0, ge=1, le=3600, description="Seconds between metric samples.")
    inventory_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for the inventory service.")
    ops_enabled: bool = Field(
        default=True, description="Serve the command and log-reading endpoints of services.collector.ops."
    )
    owned_nodes: str = Field(
        default="",
        description="Comma-separated node uuids this replica collects from; empty means every node.",
    )

    leases: bool = Field(
        default=False,
        description="Split the nodes among collector replicas with leases in JetStream key-value buckets.",
    )
    lease_ttl: float = Field(
        default=15.0, ge=2, le=3600, description="Seconds after its last renewal that a node lease expires."
    )
    lease_renew_interval: float = Field(
        default=5.0, gt=0, le=600, description="Seconds between lease renewals and scans for unclaimed nodes."
    )
    resync_interval: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description=(
            "Seconds between checks that reload the nodes and samplers whose stored state differs"
            " from this replica's copy."
        ),
    )

    def known_hosts_path(self) -> Path:
        return self.known_hosts or get_common_settings().var_dir / "collector" / "known_hosts"

    def owned_node_set(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.owned_nodes.split(",") if part.strip())


@lru_cache
def get_settings() -> CollectorSettings:
    return CollectorSettings()
