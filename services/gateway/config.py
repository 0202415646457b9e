"""Settings of the HTTP gateway, read from ``HFD_GATEWAY_*`` environment variables."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

API_PREFIX = "/api/v1"
BACKEND_SERVICES = ("auth", "inventory", "collector", "faults", "ai")
MAX_LIMIT = 100_000
MAX_WINDOW_SECONDS = 30 * 24 * 3600


class GatewaySettings(BaseSettings):
    """Timeouts, size limits, login rate limits and the services that ``/health`` checks."""

    model_config = SettingsConfigDict(env_prefix="HFD_GATEWAY_", extra="ignore")

    rpc_timeout_seconds: float = Field(default=10.0, gt=0, description="Wait for a service reply before 503.")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    health_services: list[str] = Field(default=list(BACKEND_SERVICES), description="Services that /health pings.")
    health_timeout_seconds: float = Field(default=1.0, gt=0, description="Wait per service ping in /health.")
    health_cache_seconds: float = Field(default=1.0, ge=0, description="Reuse a /health result this long.")

    # A full window is stored as 4 bytes per event in one key-value entry. So the limits stay at
    # or below 100,000 (400 KB, below NATS's default 1 MB max payload). The windows stay at or
    # below 30 days, well inside the 32-bit millisecond offsets of that entry.
    login_failures_per_username: int = Field(
        default=5,
        ge=1,
        le=MAX_LIMIT,
        description="Failed logins allowed per username and client address in the window.",
    )
    login_failures_per_username_total: int = Field(
        default=50,
        ge=1,
        le=MAX_LIMIT,
        description="Failed logins allowed per username from all addresses in the window.",
    )
    login_username_window_seconds: int = Field(default=300, ge=1, le=MAX_WINDOW_SECONDS)
    login_attempts_per_address: int = Field(
        default=20, ge=1, le=MAX_LIMIT, description="Logins allowed per client address."
    )
    login_address_window_seconds: int = Field(default=60, ge=1, le=MAX_WINDOW_SECONDS)
    registrations_per_address: int = Field(
        default=10, ge=1, le=MAX_LIMIT, description="Registrations allowed per address."
    )
    registration_window_seconds: int = Field(default=3600, ge=1, le=MAX_WINDOW_SECONDS)
    rate_limit_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Wait per read or write of the shared rate-limit bucket before 503."
    )

    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated proxy addresses whose X-Forwarded-For is trusted; empty trusts none.",
    )
    token_leeway_seconds: int = Field(default=5, ge=0, le=300, description="Clock skew allowed on 'exp' and 'iat'.")
    audit_queue_size: int = Field(default=10_000, ge=10, description="Audit events waiting to be published.")
    audit_publish_timeout_seconds: float = Field(default=2.0, gt=0)
    audit_publish_attempts: int = Field(default=3, ge=1)
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")


@lru_cache
def get_gateway_settings() -> GatewaySettings:
    """Return the process-wide gateway settings."""
    return GatewaySettings()
