"""Alembic environment of the inventory service; the work is in ``libs.common.migrations_env``."""

from libs.common.migrations_env import run_migrations
from services.inventory.models import Base

run_migrations(Base.metadata)
