"""pos_events.detection: what a detector found, for DETECTION events
(SubmitDetection); NULL for POS events.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pos_events", sa.Column("detection", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("pos_events", "detection")
