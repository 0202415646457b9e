"""Nodes that log in with another node's stored secret (workers found by discovery).

Revision ID: 0003_inherited_credentials
Revises: 0002_exec_logs
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_inherited_credentials"
down_revision = "0002_exec_logs"
branch_labels = None
depends_on = None

SCHEMA = "collector"


def upgrade() -> None:
    op.add_column("nodes", sa.Column("credentials_from_node", sa.String(36), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("nodes", "credentials_from_node", schema=SCHEMA)
