"""Conversions between clip rows and ``eventclip.v1`` messages, and ListClips'
opaque page tokens (AIP-158)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from eventclip.clipper.models import ClipRecord
from eventclip.clipper.store import ClipPageCursor
from eventclip.errors import InvalidArgument
from eventclip.timeutil import as_utc, to_duration, to_timestamp
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
    )
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
    clip.codec_name = record.codec_name or ""
    clip.width = record.width or 0
    clip.height = record.height or 0
    return clip


def _filters(request: clips_pb2.ListClipsRequest) -> list[str]:
    return [request.camera_id, request.event_id, request.alert_id]


def encode_page_token(cursor: ClipPageCursor, request: clips_pb2.ListClipsRequest) -> str:
    """An opaque token: the last clip's position plus the filters in force."""
    payload = {"t": cursor.create_time.isoformat(), "id": cursor.clip_id, "f": _filters(request)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_page_token(token: str, request: clips_pb2.ListClipsRequest) -> ClipPageCursor:
    """The cursor in ``token``. Raises InvalidArgument when it is not one of ours
    or was issued for other filters (AIP-158: filters must not change between pages)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor = ClipPageCursor(as_utc(datetime.fromisoformat(payload["t"])), str(payload["id"]))
        filters = payload["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise InvalidArgument("page_token is invalid (use next_page_token as returned)") from err
    if filters != _filters(request):
        raise InvalidArgument(
            "page_token was issued for different camera_id/event_id/alert_id filters"
        )
    return cursor
