"""Settings shared by every service, read from ``HFD_*`` environment variables.

Each service composes these with its own settings class (prefix ``HFD_<SERVICE>_``), so a
deployment sets the connection URLs once and each service's own knobs separately.
"""

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_FILE = "dev-secrets.json"  # noqa: S105 - a file name, not a secret


class CommonSettings(BaseSettings):
    """Connection URLs, secrets and logging, shared by all services."""

    model_config = SettingsConfigDict(env_prefix="HFD_", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development", description="'production' refuses to start without explicit secrets."
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server(s), comma-separated.")
    nats_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Prefix for every subject, stream, bucket and service name, so that several "
        "installations or test runs can share one NATS server.",
    )
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/hfd",
        description="SQLAlchemy URL of the PostgreSQL database (asyncpg driver).",
    )
    jwt_secret: str = Field(default="", description="HMAC key that signs access tokens (32+ bytes).")
    secret_key: str = Field(
        default="",
        description="Fernet key (urlsafe base64, 32 bytes) that encrypts SSH secrets at rest.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "console"] = Field(default="json", description="One JSON object a line, or plain text.")
    metrics_host: str = Field(default="127.0.0.1", description="Address of a backend service's /metrics endpoint.")
    metrics_port: int | None = Field(
        default=None,
        ge=-1,
        le=65535,
        description="Port of /metrics: empty picks the service's default (9101-9105), 0 a free port, -1 none.",
    )
    stream_max_bytes: int = Field(
        default=-1, ge=-1, description="Byte cap of each JetStream stream; -1 leaves only the age limits."
    )
    stream_replicas: int = Field(default=1, ge=1, le=5, description="JetStream replicas of each stream.")
    var_dir: Path = Field(default=Path("var"), description="Folder for development secrets and local state.")
    instance: str = Field(
        default_factory=lambda: secrets.token_hex(4), description="Name of this process in logs and NATS client names."
    )

    @model_validator(mode="after")
    def _require_secrets_in_production(self) -> "CommonSettings":
        if self.env == "production":
            if len(self.jwt_secret) < 32:
                raise ValueError("HFD_JWT_SECRET must be set to at least 32 characters in production")
            if not self.secret_key:
                raise ValueError("HFD_SECRET_KEY must be set in production (a Fernet key)")
        return self


@lru_cache
def get_common_settings() -> CommonSettings:
    """Return the process-wide common settings, filling development secrets when unset."""
    settings = CommonSettings()
    if settings.env == "development" and (not settings.jwt_secret or not settings.secret_key):
        from libs.common.devsecrets import load_or_create_dev_secrets

        generated = load_or_create_dev_secrets(settings.var_dir / DEVELOPMENT_SECRET_FILE)
        settings = settings.model_copy(
            update={
                "jwt_secret": settings.jwt_secret or generated["jwt_secret"],
                "secret_key": settings.secret_key or generated["secret_key"],
            }
        )
    return settings
