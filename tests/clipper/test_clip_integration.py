"""The clipper against the real buffer service, both on loopback gRPC: a
synthetic:// camera is ingested live, clips are cut from its ring."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
import grpc
import pytest
import pytest_asyncio
from conftest import free_port
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventclip.buffer import service as buffer_service
from eventclip.clipper import service as clipper_service
from eventclip.config import Settings, load_settings
from eventclip.rpc import open_channel
from eventclip.timeutil import (
    duration_seconds,
    timestamp_seconds,
    to_duration,
    to_timestamp,
    utcnow,
)
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc, clips_pb2, clips_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="module")

State = clips_pb2.Clip.State


@dataclass
class Site:
    settings: Settings
    buffer: buffer_service.RunningBuffer
    buffer_stub: buffer_pb2_grpc.BufferServiceStub
    data_dir: Path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    data_dir = tmp_path_factory.mktemp("site")
    settings = load_settings(
        data_dir=data_dir,
        cameras=[{"id": "cam", "source": "synthetic://320x180@15?gop=15", "buffer_seconds": 30}],
        registers=[],
        clips={"max_attempts": 3, "max_seconds": 60},
        services={"buffer": {"port": free_port()}, "clipper": {"port": 0}},
    )
    buffer = await buffer_service.start(settings)
    channel = grpc.aio.insecure_channel(settings.services.buffer.target)
    stub = buffer_pb2_grpc.BufferServiceStub(channel)
    try:
        # Two seconds of pre-roll must be in the ring before the first clip.
        deadline = time.monotonic() + 20
        while True:
            camera = await stub.GetCamera(buffer_pb2.GetCameraRequest(id="cam"))
            if duration_seconds(camera.buffered_duration) >= 2.5:
                break
            assert time.monotonic() < deadline, f"camera never buffered: {camera}"
            await asyncio.sleep(0.2)
        yield Site(settings, buffer, stub, data_dir)
    finally:
        await channel.close()
        await buffer.stop(0)


@pytest_asyncio.fixture(loop_scope="module")
async def clipper(site: Site) -> AsyncIterator[clips_pb2_grpc.ClipServiceStub]:
    service = await clipper_service.start(site.settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        yield clips_pb2_grpc.ClipServiceStub(channel)
    finally:
        await channel.close()
        await service.stop(1)


async def wait_finished(
    stub: clips_pb2_grpc.ClipServiceStub, clip_id: str, within: float = 20
) -> tuple[clips_pb2.Clip, list[int]]:
    """Poll until READY or FAILED; also returns the states seen, in order."""
    seen: list[int] = []
    deadline = time.monotonic() + within
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id))
        if not seen or seen[-1] != clip.state:
            seen.append(clip.state)
        if clip.state in (State.READY, State.FAILED):
            return clip, seen
        assert time.monotonic() < deadline, f"clip still {State.Name(clip.state)}"
        await asyncio.sleep(0.05)


def around_now(pre: float = 2, post: float = 2, **fields: object) -> clips_pb2.CreateClipRequest:
    return clips_pb2.CreateClipRequest(
        camera_id="cam",
        event_time=to_timestamp(utcnow()),
        pre_roll=to_duration(pre),
        post_roll=to_duration(post),
        **fields,
    )


async def test_clip_of_live_video_becomes_ready_and_decodes(
    site: Site, clipper: clips_pb2_grpc.ClipServiceStub, tmp_path: Path
) -> None:
    created = await clipper.CreateClip(around_now(alert_id="a1", event_id="e1"))
    # Its window has started, so the job may already be following the camera.
    assert created.state in (State.PENDING, State.RECORDING)

    clip, seen = await wait_finished(clipper, created.id)

    assert clip.state == State.READY, clip.failure_reason
    order = [State.PENDING, State.RECORDING, State.READY]
    assert seen[0] in (State.PENDING, State.RECORDING)
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert clip.attempts == 1
    start, end = timestamp_seconds(clip.start_time), timestamp_seconds(clip.end_time)
    media_start = timestamp_seconds(clip.media_start_time)
    # On the keyframe at or before start (GOP = 1 s), never after it.
    assert start - 1.1 <= media_start <= start
    assert timestamp_seconds(clip.media_end_time) >= end
    assert (clip.codec_name, clip.width, clip.height) == ("h264", 320, 180)

    chunks = [
        m
        async for m in clipper.ReadClipMedia(
            clips_pb2.ReadClipMediaRequest(
                clip_id=clip.id, kind=clips_pb2.ReadClipMediaRequest.VIDEO
            )
        )
    ]
    mp4 = b"".join(m.data for m in chunks)
    assert len(mp4) == clip.size_bytes == chunks[0].total_size
    assert hashlib.sha256(mp4).hexdigest() == clip.sha256
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4)
    with closing(av.open(str(path))) as container:
        frames = list(container.decode(video=0))
    assert frames[0].key_frame
    # 15 fps over at least the 4 s asked for (plus the snap-back).
    assert len(frames) >= 4 * 15
    assert duration_seconds(clip.duration) == pytest.approx(len(frames) / 15, abs=0.1)

    # The sidecar the job committed says what the clip says, coverage included.
    sidecar = b"".join(
        [
            m.data
            async for m in clipper.ReadClipMedia(
                clips_pb2.ReadClipMediaRequest(
                    clip_id=clip.id, kind=clips_pb2.ReadClipMediaRequest.METADATA
                )
            )
        ]
    )
    assert hashlib.sha256(sidecar).hexdigest() == clip.metadata_sha256
    described = json.loads(sidecar)
    assert described["media"]["complete"] == clip.complete
    assert len(described["media"]["gaps"]) == len(clip.gaps)
    assert described["files"]["video"]["sha256"] == clip.sha256
    assert sum(t["packet_count"] for t in described["source_timelines"]) >= 4 * 15

    # Asking again for the same alert and camera returns the same clip.
    again = await clipper.CreateClip(around_now(alert_id="a1", event_id="e1"))
    assert again.id == clip.id and again.state == State.READY


async def test_an_exact_clip_starts_at_the_requested_instant(
    site: Site, clipper: clips_pb2_grpc.ClipServiceStub, tmp_path: Path
) -> None:
    created = await clipper.CreateClip(around_now(trim=clips_pb2.EXACT))
    clip, _ = await wait_finished(clipper, created.id)

    assert clip.state == State.READY, clip.failure_reason
    assert clip.trim == clips_pb2.EXACT
    start = timestamp_seconds(clip.start_time)
    media_start = timestamp_seconds(clip.media_start_time)
    # The frame on screen at start_time is shown first (15 fps), not the keyframe.
    assert start - 1 / 15 < media_start <= start
    request = clips_pb2.ReadClipMediaRequest(
        clip_id=clip.id, kind=clips_pb2.ReadClipMediaRequest.VIDEO
    )
    mp4 = b"".join([m.data async for m in clipper.ReadClipMedia(request)])
    assert hashlib.sha256(mp4).hexdigest() == clip.sha256
    path = tmp_path / "exact.mp4"
    path.write_bytes(mp4)
    with closing(av.open(str(path))) as container:
        frames = list(container.decode(video=0))
    assert float(frames[0].pts * frames[0].time_base) == pytest.approx(0, abs=1e-3)
    assert duration_seconds(clip.duration) == pytest.approx(len(frames) / 15, abs=0.1)
    end = timestamp_seconds(clip.end_time)
    assert len(frames) / 15 >= end - start - 1 / 15


async def test_window_older_than_the_buffer_fails_with_the_buffers_reason(
    clipper: clips_pb2_grpc.ClipServiceStub,
) -> None:
    request = around_now()
    request.event_time.FromSeconds(request.event_time.seconds - 600)
    created = await clipper.CreateClip(request)

    clip, _ = await wait_finished(clipper, created.id)

    assert clip.state == State.FAILED
    assert clip.attempts == 1  # final at once: no retry can bring the video back
    assert "FAILED_PRECONDITION" in clip.failure_reason
    assert "buffer" in clip.failure_reason


async def test_cancel_stops_a_job_following_the_camera(
    site: Site, clipper: clips_pb2_grpc.ClipServiceStub
) -> None:
    created = await clipper.CreateClip(around_now(pre=1, post=30))
    deadline = time.monotonic() + 10
    while (await clipper.GetClip(clips_pb2.GetClipRequest(id=created.id))).state != (
        State.RECORDING
    ):
        assert time.monotonic() < deadline, "the job never started recording"
        await asyncio.sleep(0.05)

    cancelled = await clipper.CancelClip(clips_pb2.CancelClipRequest(id=created.id))

    assert cancelled.state == State.CANCELLED
    assert cancelled.size_bytes == 0 and not cancelled.sha256
    stored = site.data_dir / "clips"
    assert not list(stored.rglob(f"*{created.id}*"))  # nothing kept, not even staged
    assert not list(site.settings.staged_windows_dir.glob(f"*{created.id}*"))
    audit = await clipper.ListAuditEntries(clips_pb2.ListAuditEntriesRequest(clip_id=created.id))
    assert [e.action for e in audit.entries] == ["created", "recording", "cancelled"]
    assert audit.chain_intact


async def test_an_interrupted_job_resumes_after_a_restart(site: Site) -> None:
    service = await clipper_service.start(site.settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    stub = clips_pb2_grpc.ClipServiceStub(channel)
    created = await stub.CreateClip(around_now(pre=1, post=1.5, request_id="restart-1"))
    await channel.close()
    await service.stop(0)  # the job was following the camera for its post-roll: cancelled

    service = await clipper_service.start(site.settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    stub = clips_pb2_grpc.ClipServiceStub(channel)
    try:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=created.id))
        assert clip.state in (State.PENDING, State.RECORDING)
        clip, _ = await wait_finished(stub, created.id)
        assert clip.state == State.READY, clip.failure_reason
        stored = site.data_dir / "clips"
        assert (
            hashlib.sha256(next(stored.rglob(f"{clip.id}.mp4")).read_bytes()).hexdigest()
            == clip.sha256
        )
        assert not list((stored / ".staging").iterdir())
    finally:
        await channel.close()
        await service.stop(1)


async def test_the_job_continues_the_trace_of_create_clip(site: Site) -> None:
    """refund -> CreateClip -> clip job -> ReadWindow is one trace, though the job
    runs after CreateClip has returned."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    service = await clipper_service.start(site.settings)
    channel = open_channel(f"127.0.0.1:{service.port}", tls=site.settings.tls)  # traced
    stub = clips_pb2_grpc.ClipServiceStub(channel)
    try:
        with provider.get_tracer("test").start_as_current_span("refund") as root:
            created = await stub.CreateClip(around_now(pre=1, post=1))
        clip, _ = await wait_finished(stub, created.id)
        assert clip.state == State.READY, clip.failure_reason
    finally:
        await channel.close()
        await service.stop(1)

    trace_id = root.get_span_context().trace_id
    in_trace = {s.name for s in exporter.get_finished_spans() if s.context.trace_id == trace_id}
    exporter.shutdown()  # stop collecting the spans of later tests
    assert "clipper.job" in in_trace
    assert "/eventclip.v1.ClipService/CreateClip" in in_trace
    assert "/eventclip.v1.BufferService/ReadWindow" in in_trace
