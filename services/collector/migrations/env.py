"""Alembic environment of the collector schema."""

from libs.common.migrations_env import run_migrations
from services.collector import models

run_migrations(models.Base.metadata)
