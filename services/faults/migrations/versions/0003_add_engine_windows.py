"""Add the windows column to engine_states: the saved windows of each detection engine.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "faults"


def upgrade() -> None:
    # Nullable: rows saved before this revision have templates only, and their engines start with empty windows.
    op.add_column("engine_states", sa.Column("windows", sa.LargeBinary()), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("engine_states", "windows", schema=SCHEMA)
