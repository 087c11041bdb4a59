"""Conversions between clip rows and ``eventclip.v1`` messages."""

from __future__ import annotations

from google.type import interval_pb2

from eventclip.clipper.models import ClipRecord
from eventclip.timeutil import to_duration, to_timestamp
from eventclip.v1 import clips_pb2


def clip_message(record: ClipRecord) -> clips_pb2.Clip:
    """The Clip resource for a row (media fields only once they are known)."""
    clip = clips_pb2.Clip(
        id=record.id,
        camera_id=record.camera_id,
        event_id=record.event_id,
        alert_id=record.alert_id or "",
        state=clips_pb2.Clip.State.Value(record.state),
        failure_reason=record.failure_reason,
        start_time=to_timestamp(record.start_time),
        end_time=to_timestamp(record.end_time),
        event_time=to_timestamp(record.event_time),
        attempts=record.attempts,
        create_time=to_timestamp(record.create_time),
        update_time=to_timestamp(record.update_time),
        complete=record.complete,
        gaps=[
            interval_pb2.Interval(
                start_time=to_timestamp(gap["start"]), end_time=to_timestamp(gap["end"])
            )
            for gap in record.gaps
        ],
        trim=clips_pb2.Trim.Value(record.trim),
        legal_hold=record.legal_hold,
    )
    if record.expire_time is not None:
        clip.expire_time.CopyFrom(to_timestamp(record.expire_time))
    if record.delete_time is not None:
        clip.delete_time.CopyFrom(to_timestamp(record.delete_time))
    if record.media_start_time is not None:
        clip.media_start_time.CopyFrom(to_timestamp(record.media_start_time))
    if record.media_end_time is not None:
        clip.media_end_time.CopyFrom(to_timestamp(record.media_end_time))
    if record.duration_seconds is not None:
        clip.duration.CopyFrom(to_duration(record.duration_seconds))
    clip.size_bytes = record.size_bytes or 0
    clip.sha256 = record.sha256 or ""
    clip.thumbnail_size_bytes = record.thumbnail_size_bytes or 0
    clip.thumbnail_sha256 = record.thumbnail_sha256 or ""
    clip.metadata_size_bytes = record.metadata_size_bytes or 0
    clip.metadata_sha256 = record.metadata_sha256 or ""
    clip.codec_name = record.codec_name or ""
    clip.width = record.width or 0
    clip.height = record.height or 0
    return clip
