"""The ``clips`` table, owned by the clipper (migrations in ``migrations/versions``).

A row is both the API resource (``eventclip.v1.Clip``) and the job record: the
database is the source of truth for what is PENDING / RECORDING, so a restart
resumes every unfinished clip from here.

Idempotency: ``alert_id`` and ``request_id`` are stored as NULL when the request
leaves them empty, so two plain UNIQUE constraints, (alert_id, camera_id) and
(request_id), enforce "one clip per alert and camera" and "one clip per request
id" only where the key is set: SQL (SQLite and PostgreSQL alike) never treats
NULLs as equal in a unique constraint. This needs no partial index and leaves
the race between two concurrent CreateClip calls to the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, MetaData, SQLModel

from eventclip.db import UTCDateTime

#: Clip.State names as stored in ``clips.state``.
PENDING, RECORDING, READY, FAILED = "PENDING", "RECORDING", "READY", "FAILED"
CANCELLED, DELETED = "CANCELLED", "DELETED"
UNFINISHED_STATES = (PENDING, RECORDING)
#: Clip.Trim names as stored in ``clips.trim``.
TRIM_KEYFRAME, TRIM_EXACT = "KEYFRAME", "EXACT"


class ClipperTable(SQLModel):
    """Base of this service's tables: their own MetaData, apart from other services'."""

    metadata = MetaData()


#: The tables this service's migrations create (env.py's target_metadata).
metadata = ClipperTable.metadata


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


class ClipRecord(ClipperTable, table=True):
    __tablename__ = "clips"
    __table_args__ = (
        UniqueConstraint("alert_id", "camera_id", name="uq_clips_alert_camera"),
        UniqueConstraint("request_id", name="uq_clips_request_id"),
        Index("ix_clips_create_time_id", "create_time", "id"),
        # GET /clips?cameraId=... pages newest first within one camera.
        Index("ix_clips_camera_create_time_id", "camera_id", "create_time", "id"),
    )

    #: Time-sortable: 12 hex digits of milliseconds since the epoch + 8 random.
    id: str = Field(primary_key=True, max_length=32)
    camera_id: str = Field(max_length=64)
    event_id: str = Field(default="", max_length=128, index=True)
    #: NULL when unset (see the module docstring on idempotency).
    alert_id: str | None = Field(default=None, max_length=128, index=True)
    request_id: str | None = Field(default=None, max_length=128)
    #: PENDING, RECORDING, READY, FAILED, CANCELLED or DELETED.
    state: str = Field(default=PENDING, max_length=16, index=True)
    #: Why the clip FAILED, or the last retryable error while it is retried.
    failure_reason: str = Field(default="", sa_column=Column(Text, nullable=False))

    #: The window asked for: event_time - pre_roll .. event_time + post_roll (UTC).
    start_time: datetime = _utc()
    end_time: datetime = _utc()
    event_time: datetime = _utc()

    #: What a player of the MP4 shows (media_start_time <= start_time): from the keyframe
    #: before start_time (KEYFRAME) or from the frame on screen at it (EXACT).
    media_start_time: datetime | None = _utc(nullable=True)
    media_end_time: datetime | None = _utc(nullable=True)
    duration_seconds: float | None = None
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    #: SHA-256 (lowercase hex) of the MP4: chain of custody.
    sha256: str | None = Field(default=None, max_length=64)
    thumbnail_size_bytes: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    thumbnail_sha256: str | None = Field(default=None, max_length=64)
    codec_name: str | None = Field(default=None, max_length=16)
    width: int | None = None
    height: int | None = None
    #: Storage keys (relative paths under the clip storage root).
    video_key: str | None = Field(default=None, max_length=255)
    thumbnail_key: str | None = Field(default=None, max_length=255)
    #: The sidecar JSON stored beside the media.
    metadata_key: str | None = Field(default=None, max_length=255)
    metadata_size_bytes: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    metadata_sha256: str | None = Field(default=None, max_length=64)

    #: KEYFRAME (snap back to the keyframe) or EXACT (edit list hides the lead-in).
    trim: str = Field(default=TRIM_KEYFRAME, max_length=16)
    #: The media covers the whole window with no gap longer than a GOP.
    complete: bool = False
    #: Parts of the window the media lacks: [{"start": epoch s, "end": epoch s}].
    gaps: list[dict[str, float]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )

    #: Legal hold: retention never deletes a held clip.
    legal_hold: bool = False
    #: When retention deletes the media: set when the clip finishes with media
    #: (READY, or FAILED keeping what was recorded); a held clip is kept past it.
    expire_time: datetime | None = _utc(nullable=True, index=True)
    #: When retention deleted the media (state DELETED).
    delete_time: datetime | None = _utc(nullable=True)

    #: Head of the clip's audit chain (``clip_audit``): how many entries it has
    #: and the SHA-256 of the last one, so removing the newest entries shows too.
    audit_sequence: int = 0
    audit_sha256: str | None = Field(default=None, max_length=64)

    attempts: int = 0
    #: Earliest time the job may (re)try: start_time, then the backoff.
    next_attempt_at: datetime | None = _utc(nullable=True, index=True)
    #: W3C trace context of the CreateClip call ({"traceparent": ..., "tracestate": ...}),
    #: so the job, however late it runs, continues the request's trace.
    trace_context: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    create_time: datetime = _utc()
    update_time: datetime = _utc()


class AuditRecord(ClipperTable, table=True):
    """One entry of a clip's append-only, hash-chained audit trail
    (``eventclip.v1.AuditEntry``; the hash recipe is in ``eventclip.clipper.audit``).
    Rows are only ever inserted; the chain makes an edit or a removal visible."""

    __tablename__ = "clip_audit"

    clip_id: str = Field(primary_key=True, max_length=32, foreign_key="clips.id")
    #: 1, 2, 3 ... per clip.
    sequence: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    time: datetime = _utc()
    #: created, recording, retrying, ready, failed, cancelled, viewed, downloaded,
    #: exported, held, released, deleted.
    action: str = Field(max_length=16)
    #: "system", "anonymous", or (once auth exists) the API key's name.
    actor: str = Field(max_length=128)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    #: Lowercase hex SHA-256 of the previous entry (64 zeros for the first).
    previous_sha256: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
