"""pos_events indexes for rules with context: an operator's, register's or
store's events in a time window, and the events of one transaction.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_pos_events_operator_time": ["operator_id", "occurred_at"],
    "ix_pos_events_register_time": ["register_id", "occurred_at"],
    "ix_pos_events_store_time": ["store_id", "occurred_at"],
    "ix_pos_events_transaction": ["store_id", "transaction_id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "pos_events", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "pos_events")
