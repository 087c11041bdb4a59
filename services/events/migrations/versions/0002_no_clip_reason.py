"""alerts.no_clip_reason: why cameras of the register get no clip (an event
older than their buffer, or dated too far ahead).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "alerts",
        sa.Column("no_clip_reason", sa.String(4096), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("alerts", "no_clip_reason")
