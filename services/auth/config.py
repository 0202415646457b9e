"""Settings of the auth service, read from ``HFD_AUTH_*`` environment variables."""

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    """Token lifetimes, password hashing cost and the first admin account."""

    model_config = SettingsConfigDict(env_prefix="HFD_AUTH_", extra="ignore")

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60, description="Lifetime of an access token.")
    refresh_token_days: int = Field(default=7, ge=1, le=90, description="Lifetime of a refresh token.")
    bootstrap_admin: str = Field(
        default="",
        validation_alias=AliasChoices("HFD_BOOTSTRAP_ADMIN", "HFD_AUTH_BOOTSTRAP_ADMIN"),
        description="'username:password' of the admin created at start when no admin exists.",
        repr=False,
    )
    bootstrap_admin_email: str = Field(
        default="", description="Email of the bootstrap admin; 'USERNAME@localhost.localdomain' when empty."
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="Argon2id passes over memory.")
    argon2_memory_kib: int = Field(default=65536, ge=8192, description="Argon2id memory per hash, in KiB.")
    argon2_parallelism: int = Field(default=4, ge=1, le=16, description="Argon2id lanes.")
    audit_batch: int = Field(default=200, ge=1, le=1000, description="Audit events stored per transaction.")

    @property
    def access_token_seconds(self) -> int:
        return self.access_token_minutes * 60

    @property
    def refresh_token_seconds(self) -> int:
        return self.refresh_token_days * 24 * 3600


@lru_cache
def get_auth_settings() -> AuthSettings:
    """Return the process-wide auth settings."""
    return AuthSettings()
