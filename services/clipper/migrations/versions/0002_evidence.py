"""Evidence: coverage (complete, gaps), trim, sidecar metadata, retention and
legal hold columns on clips; the per-camera listing index.

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
    utc = sa.DateTime(timezone=True)
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("metadata_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("metadata_size_bytes", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("metadata_sha256", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("trim", sa.String(16), nullable=False, server_default="KEYFRAME")
        )
        batch.add_column(
            sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("gaps", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("expire_time", utc, nullable=True))
        batch.add_column(sa.Column("delete_time", utc, nullable=True))
    op.create_index("ix_clips_expire_time", "clips", ["expire_time"])
    # Replaces the camera_id index: the composite serves the filter and the order.
    op.drop_index("ix_clips_camera_id", "clips")
    op.create_index("ix_clips_camera_create_time_id", "clips", ["camera_id", "create_time", "id"])


def downgrade() -> None:
    op.drop_index("ix_clips_camera_create_time_id", "clips")
    op.create_index("ix_clips_camera_id", "clips", ["camera_id"])
    op.drop_index("ix_clips_expire_time", "clips")
    with op.batch_alter_table("clips") as batch:
        for name in (
            "delete_time",
            "expire_time",
            "legal_hold",
            "gaps",
            "complete",
            "trim",
            "metadata_sha256",
            "metadata_size_bytes",
            "metadata_key",
        ):
            batch.drop_column(name)
