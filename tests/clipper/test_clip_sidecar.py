"""The sidecar JSON: built from a clip's row and the timelines it was cut from,
committed beside the media by the clip job's commit step, served as METADATA."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.models import ClipRecord
from eventclip.clipper.sidecar import FORMAT, sidecar_json, sidecar_key, source_timelines
from eventclip.timeutil import timestamp_seconds
from eventclip.v1 import clips_pb2

from .harness import Harness, request
from .media import make_ready, synthetic_timeline

SPEC = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)
T0 = datetime(2026, 11, 21, 15, 0, 0, tzinfo=UTC)


def test_the_sidecar_says_what_the_media_holds_and_lacks() -> None:
    first = synthetic_timeline(SPEC, 30, T0, timeline_id=7)
    second = synthetic_timeline(SPEC, 15, T0 + timedelta(seconds=5), timeline_id=8)
    clip = ClipRecord(
        id="0192f0c3a1b2c3d4e5f6",
        camera_id="till-cam",
        event_id="pos-1",
        alert_id="alert-1",
        start_time=T0,
        end_time=T0 + timedelta(seconds=6),
        event_time=T0 + timedelta(seconds=1.5),
        media_start_time=T0,
        media_end_time=T0 + timedelta(seconds=6),
        duration_seconds=3.0,
        complete=False,
        gaps=[{"start": T0.timestamp() + 2, "end": T0.timestamp() + 5}],
        codec_name="h264",
        width=320,
        height=180,
        video_key="till-cam/20261121/0192f0c3a1b2c3d4e5f6.mp4",
        size_bytes=123456,
        sha256="ab" * 32,
        create_time=T0,
        update_time=T0,
    )

    document = json.loads(sidecar_json(clip, source_timelines([first, second])))

    assert document["format"] == FORMAT
    assert document["generator"].startswith("eventclip ")
    assert (document["camera_id"], document["event_id"], document["alert_id"]) == (
        "till-cam",
        "pos-1",
        "alert-1",
    )
    assert document["requested"] == {
        "start_time": "2026-11-21T15:00:00.000000Z",
        "end_time": "2026-11-21T15:00:06.000000Z",
        "event_time": "2026-11-21T15:00:01.500000Z",
        "pre_roll_seconds": 1.5,
        "post_roll_seconds": 4.5,
    }
    media = document["media"]
    assert media["complete"] is False
    assert media["gaps"] == [
        {
            "start_time": "2026-11-21T15:00:02.000000Z",
            "end_time": "2026-11-21T15:00:05.000000Z",
            "seconds": 3.0,
        }
    ]
    assert media["missing_seconds"] == 3.0
    assert (media["trim"], media["codec"], media["width"]) == ("KEYFRAME", "h264", 320)
    assert document["source_timelines"] == [
        {
            "timeline_id": 7,
            "first_packet_time": "2026-11-21T15:00:00.000000Z",
            "last_packet_time": "2026-11-21T15:00:01.933333Z",
            "packet_count": 30,
        },
        {
            "timeline_id": 8,
            "first_packet_time": "2026-11-21T15:00:05.000000Z",
            "last_packet_time": "2026-11-21T15:00:05.933333Z",
            "packet_count": 15,
        },
    ]
    assert document["files"]["video"] == {
        "name": "0192f0c3a1b2c3d4e5f6.mp4",
        "content_type": "video/mp4",
        "size_bytes": 123456,
        "sha256": "ab" * 32,
    }
    assert document["files"]["thumbnail"] is None
    assert sidecar_key(clip.video_key or "") == "till-cam/20261121/0192f0c3a1b2c3d4e5f6.json"


async def test_a_ready_clip_serves_its_sidecar(clipper: Harness) -> None:
    created = await clipper.stub.CreateClip(request(alert_id="a-9", event_id="e-9"))
    service = clipper.service.clipper
    await asyncio.to_thread(make_ready, service.store, service.storage, created.id, SPEC, 30)
    clip = await clipper.stub.GetClip(clips_pb2.GetClipRequest(id=created.id))
    assert clip.metadata_size_bytes > 0

    replies = [
        m
        async for m in clipper.stub.ReadClipMedia(
            clips_pb2.ReadClipMediaRequest(
                clip_id=clip.id, kind=clips_pb2.ReadClipMediaRequest.METADATA
            )
        )
    ]
    data = b"".join(m.data for m in replies)
    assert replies[0].content_type == "application/json"
    assert len(data) == clip.metadata_size_bytes
    assert hashlib.sha256(data).hexdigest() == clip.metadata_sha256

    document = json.loads(data)
    assert (document["clip_id"], document["alert_id"]) == (clip.id, "a-9")
    assert document["files"]["video"]["sha256"] == clip.sha256
    assert document["files"]["video"]["size_bytes"] == clip.size_bytes
    assert document["files"]["thumbnail"]["sha256"] == clip.thumbnail_sha256
    media_start = datetime.fromisoformat(document["media"]["start_time"])
    assert media_start.timestamp() == timestamp_seconds(clip.media_start_time)
    assert document["media"]["duration_seconds"] == clip.duration.ToTimedelta().total_seconds()
    assert [t["packet_count"] for t in document["source_timelines"]] == [30]
    # The READY entry of the audit trail names the sidecar's hash too.
    audit = await clipper.stub.ListAuditEntries(clips_pb2.ListAuditEntriesRequest(clip_id=clip.id))
    assert clip.metadata_sha256 in next(e.detail for e in audit.entries if e.action == "ready")
