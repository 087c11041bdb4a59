"""pos_events: the receipt (lines, tender, sent_at as proto3 JSON), the
customer and, for refunds, the original transaction.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pos_events") as table:
        table.add_column(
            sa.Column("customer_id", sa.String(128), nullable=False, server_default="")
        )
        table.add_column(
            sa.Column("original_transaction_id", sa.String(128), nullable=False, server_default="")
        )
        table.add_column(sa.Column("receipt", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pos_events") as table:
        table.drop_column("receipt")
        table.drop_column("original_transaction_id")
        table.drop_column("customer_id")
