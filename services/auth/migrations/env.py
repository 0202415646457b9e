"""Alembic environment of the auth service; the work is in ``libs.common.migrations_env``."""

from libs.common.migrations_env import run_migrations
from services.auth.models import Base

run_migrations(Base.metadata)
