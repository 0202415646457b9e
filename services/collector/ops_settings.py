"""Settings of command runs and log reads on nodes."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OpsSettings(BaseSettings):
    """Settings of command runs and log reads, from ``HFD_COLLECTOR_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HFD_COLLECTOR_", extra="ignore")

    temp_roots: str = Field(
        default="/tmp/hadoop-{user}",  # noqa: S108 - Hadoop's default hadoop.tmp.dir, on the node
        description="Comma-separated directories whose contents clean_temp_dir may delete; {node} and {user} "
        "are replaced by the node's name and SSH user.",
    )
    command_max_output: int = Field(default=1_048_576, ge=1024, description="Bytes of output kept per command.")
    log_read_max_output: int = Field(default=4 * 1_048_576, ge=1024, description="Bytes kept per log read.")
    pattern_budget_seconds: float = Field(
        default=3.0, gt=0, le=60, description="Seconds a read-log pattern may spend on the fetched lines."
    )
    all_logs_node_timeout: float = Field(default=15.0, gt=0, le=300, description="Seconds per node for logs/all.")
    all_logs_max_lines: int = Field(default=20_000, ge=1, description="Lines returned by logs/all in total.")
    all_logs_concurrency: int = Field(default=8, ge=1, le=64, description="Nodes that logs/all reads at once.")
