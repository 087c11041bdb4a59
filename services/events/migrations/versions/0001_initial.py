"""Initial events tables: pos_events (the idempotency ledger) and alerts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pos_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("register_id", sa.String(128), nullable=False),
        sa.Column("operator_id", sa.String(128), nullable=False),
        sa.Column("approver_id", sa.String(128), nullable=False),
        sa.Column("transaction_id", sa.String(128), nullable=False),
        sa.Column("amount_units", sa.BigInteger, nullable=True),
        sa.Column("amount_nanos", sa.Integer, nullable=True),
        sa.Column("currency_code", sa.String(3), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "event_id",
            sa.String(128),
            sa.ForeignKey("pos_events.event_id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("register_id", sa.String(128), nullable=False),
        sa.Column("risk_score", sa.Float, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("clip_ids", sa.JSON, nullable=False),
        sa.Column("pending_cameras", sa.JSON, nullable=False),
        sa.Column("clips_pending", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alerts_store_id", "alerts", ["store_id"])
    op.create_index("ix_alerts_register_id", "alerts", ["register_id"])
    op.create_index("ix_alerts_clips_pending", "alerts", ["clips_pending"])
    op.create_index("ix_alerts_create_time_id", "alerts", ["create_time", "id"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("pos_events")
