"""Audit trail: the append-only, hash-chained ``clip_audit`` table and the head
of each clip's chain on ``clips``.

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
    op.create_table(
        "clip_audit",
        sa.Column("clip_id", sa.String(32), sa.ForeignKey("clips.id"), primary_key=True),
        sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("previous_sha256", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("clips") as batch:
        batch.add_column(
            sa.Column("audit_sequence", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("audit_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("audit_sha256")
        batch.drop_column("audit_sequence")
    op.drop_table("clip_audit")
