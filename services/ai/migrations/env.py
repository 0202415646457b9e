"""Alembic environment of the AI service; the work is in ``libs.common.migrations_env``."""

from libs.common.migrations_env import run_migrations
from services.ai.models import Base

run_migrations(Base.metadata)
