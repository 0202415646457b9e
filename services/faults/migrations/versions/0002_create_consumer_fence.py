"""Create the consumer_fence table: the epoch of the faults replica that runs the consumers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "faults"


def upgrade() -> None:
    op.create_table(
        "consumer_fence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="consumer_fence_single_row"),
        schema=SCHEMA,
    )
    op.execute("INSERT INTO faults.consumer_fence (id, epoch, holder) VALUES (1, 0, '')")


def downgrade() -> None:
    op.drop_table("consumer_fence", schema=SCHEMA)
