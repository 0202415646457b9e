"""Alembic environment of the faults service; ``libs.common.migrations_env`` does the work."""

from libs.common.migrations_env import run_migrations
from services.faults.models import Base

run_migrations(Base.metadata)
