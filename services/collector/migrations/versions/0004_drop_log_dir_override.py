"""Drop the collector's own log folder override; inventory's log_dirs is the only list.

set-log-dir now changes the nodes' log_dirs in inventory, which the collector copies. An
override stored before this revision is dropped, because inventory never knew it and the
collector's start-up sync would replace it anyway. Run set-log-dir again after upgrading.

Revision ID: 0004_drop_log_dir_override
Revises: 0003_inherited_credentials
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_drop_log_dir_override"
down_revision = "0003_inherited_credentials"
branch_labels = None
depends_on = None

SCHEMA = "collector"


def upgrade() -> None:
    op.drop_column("nodes", "log_dir_override", schema=SCHEMA)


def downgrade() -> None:
    op.add_column("nodes", sa.Column("log_dir_override", sa.Text(), nullable=True), schema=SCHEMA)
