"""alerts.pre_roll_seconds: a longer pre-roll for alerts whose rules named
earlier related events (NULL: the configured one).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("pre_roll_seconds", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.drop_column("pre_roll_seconds")
