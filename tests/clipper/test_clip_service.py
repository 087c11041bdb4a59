"""ClipService over real gRPC on loopback: validation, idempotency, paging, media.

No buffer runs here (its address is a closed port): clips are created in the
future so their jobs only wait, and the READY clip for ReadClipMedia is cut from
real H.264 with the job's own LiveRemux and finish_clip.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, timedelta

import grpc

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.timeutil import to_duration, to_timestamp
from eventclip.v1 import clips_pb2, clips_pb2_grpc

from .harness import Harness, expect_error, later, request
from .media import make_ready

Kind = clips_pb2.ReadClipMediaRequest.Kind


async def test_create_clip_validation(clipper: Harness) -> None:
    stub = clipper.stub
    await expect_error(
        stub.CreateClip(request(camera_id="nope")), grpc.StatusCode.NOT_FOUND, "nope"
    )
    await expect_error(
        stub.CreateClip(request(camera_id="")), grpc.StatusCode.INVALID_ARGUMENT, "camera_id"
    )
    await expect_error(
        stub.CreateClip(clips_pb2.CreateClipRequest(camera_id="cam1")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "event_time",
    )
    await expect_error(
        stub.CreateClip(request(pre_roll=to_duration(-1))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "pre_roll",
    )
    await expect_error(
        stub.CreateClip(request(post_roll=to_duration(-0.5))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "post_roll",
    )
    await expect_error(
        stub.CreateClip(request(pre_roll=to_duration(100), post_roll=to_duration(30))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "clips.max_seconds",
    )


async def test_create_clip_is_pending_with_the_window_and_defaults(clipper: Harness) -> None:
    event = later()
    clip = await clipper.stub.CreateClip(
        request(event_time=to_timestamp(event), event_id="e1", alert_id="a1")
    )
    assert clip.state == clips_pb2.Clip.PENDING
    assert len(clip.id) == 20
    assert (clip.camera_id, clip.event_id, clip.alert_id) == ("cam1", "e1", "a1")
    # Configured defaults: 10 s pre-roll, 5 s post-roll.
    assert clip.start_time.ToDatetime(UTC) == (event - timedelta(seconds=10)).replace(
        microsecond=event.microsecond
    )
    assert (clip.end_time.ToDatetime(UTC) - clip.event_time.ToDatetime(UTC)) == timedelta(seconds=5)
    got = await clipper.stub.GetClip(clips_pb2.GetClipRequest(id=clip.id))
    assert got == clip
    await expect_error(
        clipper.stub.GetClip(clips_pb2.GetClipRequest(id="0000")),
        grpc.StatusCode.NOT_FOUND,
        "0000",
    )


async def test_create_clip_stores_the_trim_else_the_configured_one(clipper: Harness) -> None:
    stub = clipper.stub
    default = await stub.CreateClip(request())
    exact = await stub.CreateClip(request(trim=clips_pb2.EXACT))
    keyframe = await stub.CreateClip(request(trim=clips_pb2.KEYFRAME))
    assert (default.trim, exact.trim, keyframe.trim) == (
        clips_pb2.KEYFRAME,
        clips_pb2.EXACT,
        clips_pb2.KEYFRAME,
    )
    assert (await stub.GetClip(clips_pb2.GetClipRequest(id=exact.id))).trim == clips_pb2.EXACT
    await expect_error(
        stub.CreateClip(request(trim=7)), grpc.StatusCode.INVALID_ARGUMENT, "trim must be"
    )

    settings = clipper.service.clipper.settings.model_copy(
        update={
            "clips": clipper.service.clipper.settings.clips.model_copy(update={"trim": "exact"})
        }
    )
    clipper.service.clipper.settings = settings
    assert (await stub.CreateClip(request())).trim == clips_pb2.EXACT
    assert (await stub.CreateClip(request(trim=clips_pb2.KEYFRAME))).trim == clips_pb2.KEYFRAME


async def test_create_clip_is_idempotent(clipper: Harness) -> None:
    stub = clipper.stub
    first = await stub.CreateClip(request(alert_id="a1"))
    again = await stub.CreateClip(request(alert_id="a1", event_time=to_timestamp(later(90))))
    other_camera = await stub.CreateClip(request(alert_id="a1", camera_id="cam2"))
    assert again.id == first.id and again.event_time == first.event_time
    assert other_camera.id != first.id

    manual = await stub.CreateClip(request(request_id="r-1"))
    assert (await stub.CreateClip(request(request_id="r-1"))).id == manual.id
    # Concurrent retries of one alert still make one clip (the database decides).
    racing = await asyncio.gather(*(stub.CreateClip(request(alert_id="a2")) for _ in range(5)))
    assert len({c.id for c in racing}) == 1
    listed = await stub.ListClips(clips_pb2.ListClipsRequest(alert_id="a2"))
    assert [c.id for c in listed.clips] == [racing[0].id]


async def test_list_clips_pages_newest_first_with_filters(clipper: Harness) -> None:
    stub = clipper.stub
    ids = []
    for n in range(7):
        clip = await stub.CreateClip(request(camera_id="cam1" if n % 2 else "cam2"))
        ids.append(clip.id)
    seen, token = [], ""
    while True:
        page = await stub.ListClips(clips_pb2.ListClipsRequest(page_size=3, page_token=token))
        assert len(page.clips) <= 3
        seen += [c.id for c in page.clips]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[::-1]

    cam1 = await stub.ListClips(clips_pb2.ListClipsRequest(camera_id="cam1"))
    assert [c.id for c in cam1.clips] == [ids[5], ids[3], ids[1]]
    assert cam1.next_page_token == ""
    assert len((await stub.ListClips(clips_pb2.ListClipsRequest())).clips) == 7

    first = await stub.ListClips(clips_pb2.ListClipsRequest(camera_id="cam1", page_size=1))
    await expect_error(
        stub.ListClips(clips_pb2.ListClipsRequest(page_token=first.next_page_token)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "filters",
    )
    await expect_error(
        stub.ListClips(clips_pb2.ListClipsRequest(page_token="not-a-token")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    )
    await expect_error(
        stub.ListClips(clips_pb2.ListClipsRequest(page_size=-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    )


async def read_media(stub: clips_pb2_grpc.ClipServiceStub, **fields: object) -> list:
    return [m async for m in stub.ReadClipMedia(clips_pb2.ReadClipMediaRequest(**fields))]


async def test_read_clip_media_ranges(clipper: Harness) -> None:
    stub = clipper.stub
    pending = await stub.CreateClip(request())
    await expect_error(
        read_media(stub, clip_id=pending.id, kind=Kind.VIDEO),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PENDING",
    )
    await expect_error(
        read_media(stub, clip_id="nope", kind=Kind.VIDEO), grpc.StatusCode.NOT_FOUND, "nope"
    )

    # Make the clip READY with real media: 1280x720 keyframes are large enough that
    # the MP4 spans several 1 MiB chunks.
    spec = SyntheticSpec(width=1280, height=720, fps=15, gop_frames=15, bitrate=8_000_000)
    service = clipper.service.clipper
    record = make_ready(service.store, service.storage, pending.id, spec, 45)
    clip = await stub.GetClip(clips_pb2.GetClipRequest(id=pending.id))
    assert clip.state == clips_pb2.Clip.READY
    assert clip.size_bytes > 1 << 20

    video = (clipper.data_dir / "clips" / str(record.video_key)).read_bytes()
    assert hashlib.sha256(video).hexdigest() == clip.sha256

    whole = await read_media(stub, clip_id=clip.id, kind=Kind.VIDEO)
    assert (whole[0].total_size, whole[0].content_type) == (len(video), "video/mp4")
    assert all(len(m.data) <= 1 << 20 for m in whole) and len(whole) >= 2
    assert all(m.total_size == 0 and m.content_type == "" for m in whole[1:])
    assert b"".join(m.data for m in whole) == video

    part = await read_media(stub, clip_id=clip.id, kind=Kind.VIDEO, offset=1000, length=5000)
    assert b"".join(m.data for m in part) == video[1000:6000]
    tail = await read_media(stub, clip_id=clip.id, kind=Kind.VIDEO, offset=len(video) - 10)
    assert b"".join(m.data for m in tail) == video[-10:]
    await expect_error(
        read_media(stub, clip_id=clip.id, kind=Kind.VIDEO, offset=len(video)),
        grpc.StatusCode.OUT_OF_RANGE,
        "offset",
    )

    jpeg = await read_media(stub, clip_id=clip.id, kind=Kind.THUMBNAIL)
    data = b"".join(m.data for m in jpeg)
    assert jpeg[0].content_type == "image/jpeg" and data[:2] == b"\xff\xd8"
    assert hashlib.sha256(data).hexdigest() == clip.thumbnail_sha256
    await expect_error(read_media(stub, clip_id=clip.id), grpc.StatusCode.INVALID_ARGUMENT, "kind")
