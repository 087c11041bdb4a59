"""The sidecar: a JSON file of metadata stored beside each clip's media.

It says, in one self-contained document a reviewer can keep with the MP4, what
the clip is evidence of and what its files hold: the camera, the window asked
for and the event time, what the media really covers (times, duration,
coverage and gaps, trim), the codec, the buffer timelines it was cut from, the
event and alert, and the size and SHA-256 of the video and thumbnail. The
sidecar cannot hold its own hash; that is on the clip (``metadata_sha256``), in
its audit trail and in any evidence package's manifest.

Format ``eventclip-clip-metadata/1`` (times RFC 3339 UTC with six fractional
digits; durations in seconds; sizes in bytes; hashes lowercase hex)::

    {
      "format": "eventclip-clip-metadata/1",
      "generator": "eventclip 0.1.0",
      "clip_id": "...", "camera_id": "...", "event_id": "...", "alert_id": "...",
      "requested": {"start_time", "end_time", "event_time",
                    "pre_roll_seconds", "post_roll_seconds"},
      "media": {"start_time", "end_time", "duration_seconds", "complete",
                "gaps": [{"start_time", "end_time", "seconds"}], "missing_seconds",
                "trim", "codec", "width", "height"},
      "source_timelines": [{"timeline_id", "first_packet_time",
                            "last_packet_time", "packet_count"}],
      "files": {"video": {"name", "content_type", "size_bytes", "sha256"},
                "thumbnail": {...} or null}
    }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import eventclip
from eventclip.clipper.jsonfile import document_bytes
from eventclip.clipper.models import ClipRecord
from eventclip.clipper.storage import ClipStorage
from eventclip.media.timelines import Timeline
from eventclip.timeutil import from_timestamp, rfc3339

FORMAT = "eventclip-clip-metadata/1"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class SourceTimeline:
    """One buffer timeline (run of continuous timestamps) a clip was cut from:
    its id, the wall-clock times of its first and last packet, how many packets."""

    timeline_id: int
    first_packet_time: datetime
    last_packet_time: datetime
    packet_count: int


def source_timelines(timelines: Sequence[Timeline]) -> list[SourceTimeline]:
    """The SourceTimeline of each timeline ReadWindow delivered (empty ones skipped)."""
    return [
        SourceTimeline(
            timeline_id=t.codec.timeline_id,
            first_packet_time=from_timestamp(t.packets[0].wall_time),
            last_packet_time=from_timestamp(t.packets[-1].wall_time),
            packet_count=len(t.packets),
        )
        for t in timelines
        if t.packets
    ]


def sidecar_key(video_key: str) -> str:
    """Storage key of the sidecar: the video's with ``.json`` for ``.mp4``."""
    return str(PurePosixPath(video_key).with_suffix(".json"))


def _time(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def _file(key: str | None, content_type: str, size: int | None, sha256: str | None) -> Any:
    if not key:
        return None
    return {
        "name": PurePosixPath(key).name,
        "content_type": content_type,
        "size_bytes": size,
        "sha256": sha256,
    }


def sidecar_json(clip: ClipRecord, sources: Sequence[SourceTimeline]) -> bytes:
    """The sidecar of ``clip`` (its row with the media columns filled in) cut from
    ``sources``, as UTF-8 JSON bytes (indented, keys in the documented order)."""
    gaps = [
        {
            "start_time": rfc3339(datetime.fromtimestamp(gap["start"], UTC)),
            "end_time": rfc3339(datetime.fromtimestamp(gap["end"], UTC)),
            "seconds": round(gap["end"] - gap["start"], 6),
        }
        for gap in clip.gaps
    ]
    document = {
        "format": FORMAT,
        "generator": f"eventclip {eventclip.__version__}",
        "clip_id": clip.id,
        "camera_id": clip.camera_id,
        "event_id": clip.event_id,
        "alert_id": clip.alert_id or "",
        "requested": {
            "start_time": rfc3339(clip.start_time),
            "end_time": rfc3339(clip.end_time),
            "event_time": rfc3339(clip.event_time),
            "pre_roll_seconds": (clip.event_time - clip.start_time).total_seconds(),
            "post_roll_seconds": (clip.end_time - clip.event_time).total_seconds(),
        },
        "media": {
            "start_time": _time(clip.media_start_time),
            "end_time": _time(clip.media_end_time),
            "duration_seconds": clip.duration_seconds,
            "complete": clip.complete,
            "gaps": gaps,
            "missing_seconds": round(sum(g["seconds"] for g in gaps), 6),
            "trim": clip.trim,
            "codec": clip.codec_name,
            "width": clip.width,
            "height": clip.height,
        },
        "source_timelines": [
            {
                "timeline_id": s.timeline_id,
                "first_packet_time": rfc3339(s.first_packet_time),
                "last_packet_time": rfc3339(s.last_packet_time),
                "packet_count": s.packet_count,
            }
            for s in sources
        ],
        "files": {
            "video": _file(clip.video_key, "video/mp4", clip.size_bytes, clip.sha256),
            "thumbnail": _file(
                clip.thumbnail_key, "image/jpeg", clip.thumbnail_size_bytes, clip.thumbnail_sha256
            ),
        },
    }
    return document_bytes(document)


def store_sidecar(
    clip: ClipRecord, sources: Sequence[SourceTimeline], storage: ClipStorage
) -> dict[str, Any]:
    """Write and commit the sidecar of ``clip`` (its row with the media columns
    filled in, ``video_key`` set) beside its video; returns the columns
    ``metadata_key``, ``metadata_size_bytes``, ``metadata_sha256``. Blocking."""
    assert clip.video_key, "the sidecar goes beside a committed video"
    key = sidecar_key(clip.video_key)
    staged = storage.staging_path(key)
    staged.write_bytes(sidecar_json(clip, sources))
    stored = storage.commit(key, staged)
    return {
        "metadata_key": stored.key,
        "metadata_size_bytes": stored.size_bytes,
        "metadata_sha256": stored.sha256,
    }
