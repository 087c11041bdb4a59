"""Initial clipper table: clips (API resource and job record in one).

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
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "clips",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("alert_id", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text, nullable=False),
        sa.Column("start_time", utc, nullable=False),
        sa.Column("end_time", utc, nullable=False),
        sa.Column("event_time", utc, nullable=False),
        sa.Column("media_start_time", utc, nullable=True),
        sa.Column("media_end_time", utc, nullable=True),
        sa.Column("duration_seconds", sa.Float, nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("thumbnail_size_bytes", sa.BigInteger, nullable=True),
        sa.Column("thumbnail_sha256", sa.String(64), nullable=True),
        sa.Column("codec_name", sa.String(16), nullable=True),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("video_key", sa.String(255), nullable=True),
        sa.Column("thumbnail_key", sa.String(255), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", utc, nullable=True),
        sa.Column("trace_context", sa.JSON, nullable=False),
        sa.Column("create_time", utc, nullable=False),
        sa.Column("update_time", utc, nullable=False),
        sa.UniqueConstraint("alert_id", "camera_id", name="uq_clips_alert_camera"),
        sa.UniqueConstraint("request_id", name="uq_clips_request_id"),
    )
    op.create_index("ix_clips_camera_id", "clips", ["camera_id"])
    op.create_index("ix_clips_event_id", "clips", ["event_id"])
    op.create_index("ix_clips_alert_id", "clips", ["alert_id"])
    op.create_index("ix_clips_state", "clips", ["state"])
    op.create_index("ix_clips_next_attempt_at", "clips", ["next_attempt_at"])
    op.create_index("ix_clips_create_time_id", "clips", ["create_time", "id"])


def downgrade() -> None:
    op.drop_table("clips")
