"""Past windows cut where the packets are: BufferService.CutWindow.

A real BufferService (ingest off, real H.264 put into its ring) on loopback
gRPC. The MP4 it cuts must hold what the clipper's stream copy with FFmpeg's
muxer (``remux_to_mp4``) writes from the same window read with ReadWindow: the
same samples (data, PTS, DTS, durations, keyframes) and the same first frames
on screen, with both trims and with B-frames; its header must index exactly the
packets ReadWindow sends. When the clipper names a staging file the buffer can
open, the buffer writes the MP4 there (and nowhere else).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration

from eventclip.buffer import service as buffer_service
from eventclip.buffer.service import Buffer
from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.window_reader import WindowReader
from eventclip.config import load_settings
from eventclip.media.mp4 import remux_to_mp4
from eventclip.media.timelines import Timeline, timelines_from_responses, wall_seconds
from eventclip.testing import ring_input
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

from .media import first_frames, mp4_samples, recording_timeline, synthetic_timeline

SPEC = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)


@pytest_asyncio.fixture
async def buffer(tmp_path: Path) -> AsyncIterator[buffer_service.RunningBuffer]:
    settings = load_settings(
        data_dir=tmp_path,
        cameras=[{"id": "cam", "source": "synthetic://", "buffer_seconds": 600}],
        registers=[],
        services={"buffer": {"port": 0}},
    )
    running = await buffer_service.start(
        settings, buffer=Buffer(settings.cameras, max_window_seconds=120), ingest=False
    )
    try:
        yield running
    finally:
        await running.stop(0)


def fill(running: buffer_service.RunningBuffer, timeline: Timeline, first_wall: float) -> None:
    codec, packets = ring_input(timeline, first_wall)
    ring = running.buffer.camera("cam").ring
    for packet in packets:
        ring.append(packet, codec)


async def cut_and_read(
    running: buffer_service.RunningBuffer,
    start: datetime,
    end: datetime,
    event: datetime,
    *,
    exact: bool,
    output_file: Path | None = None,
) -> tuple[bytes, object, list[buffer_pb2.ReadWindowResponse]]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        cut = await WindowReader(channel, utcnow).cut("cam", start, end, event, exact, output_file)
        mp4 = b"".join([chunk async for chunk in cut.chunks])
        stub = buffer_pb2_grpc.BufferServiceStub(channel)
        request = buffer_pb2.ReadWindowRequest(
            camera_id="cam", start_time=to_timestamp(start), end_time=to_timestamp(end)
        )
        replies = [reply async for reply in stub.ReadWindow(request)]
    return mp4, cut, replies


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.asyncio
@pytest.mark.parametrize("exact", [False, True])
async def test_cut_window_is_the_stream_copy_of_read_window(
    buffer: buffer_service.RunningBuffer, exact: bool
) -> None:
    first = time.time() - 30
    fill(buffer, synthetic_timeline(SPEC, 20 * SPEC.fps, utcnow()), first)
    start, end, event = at(first + 3.3), at(first + 12.4), at(first + 8.0)
    mp4, cut, replies = await cut_and_read(buffer, start, end, event, exact=exact)

    timelines = timelines_from_responses(replies)
    expected = io.BytesIO()
    result = remux_to_mp4(
        timelines, expected, start_time=start, event_time=event, exact_start=exact
    )
    assert mp4_samples(mp4) == mp4_samples(expected.getvalue())
    assert first_frames(mp4) == first_frames(expected.getvalue())
    assert cut.result == dataclasses.replace(result, size_bytes=len(mp4))
    assert cut.written is None  # no output file named: streamed
    # The index is ReadWindow's packets without their data.
    assert [t.codec for t in cut.timelines] == [t.codec for t in timelines]
    for indexed, sent in zip(cut.timelines, timelines, strict=True):
        assert len(indexed.packets) == len(sent.packets)
        for a, b in zip(indexed.packets, sent.packets, strict=True):
            assert a.data == b""
            assert (a.pts, a.dts, a.duration, a.keyframe, a.wall_time) == (
                b.pts,
                b.dts,
                b.duration,
                b.keyframe,
                b.wall_time,
            )
    _codec, keyframe = cut.thumbnail
    assert keyframe.keyframe and keyframe.data
    assert abs(wall_seconds(keyframe) - event.timestamp()) <= 0.5 + 1e-6


@pytest.mark.asyncio
async def test_cut_window_with_b_frames_and_an_exact_start(
    buffer: buffer_service.RunningBuffer, street_bikes: Path
) -> None:
    recording = recording_timeline(street_bikes, utcnow())
    first = time.time() - 120
    fill(buffer, recording, first)
    start, end, event = at(first + 4.37), at(first + 9.5), at(first + 6.0)
    mp4, _cut, replies = await cut_and_read(buffer, start, end, event, exact=True)
    expected = io.BytesIO()
    remux_to_mp4(
        timelines_from_responses(replies),
        expected,
        start_time=start,
        event_time=event,
        exact_start=True,
    )
    samples, duration = mp4_samples(mp4)
    assert any(pts != dts for pts, dts, *_ in samples)  # B-frames: a ctts box
    assert min(pts for pts, *_ in samples) < 0  # hidden by the edit list
    assert (samples, duration) == mp4_samples(expected.getvalue())
    assert first_frames(mp4) == first_frames(expected.getvalue())


@pytest.mark.asyncio
async def test_the_buffer_writes_the_cut_into_the_clippers_staging_file(
    buffer: buffer_service.RunningBuffer, tmp_path: Path
) -> None:
    first = time.time() - 30
    fill(buffer, synthetic_timeline(SPEC, 12 * SPEC.fps, utcnow()), first)
    start, end, event = at(first + 2.1), at(first + 9.0), at(first + 5.0)
    streamed, _cut, _replies = await cut_and_read(buffer, start, end, event, exact=False)

    staging = tmp_path / "clips" / ".staging"  # the fixture's data_dir is tmp_path
    staging.mkdir(parents=True)
    staged = staging / "clip.mp4"
    staged.touch()
    chunks, cut, _replies = await cut_and_read(
        buffer, start, end, event, exact=False, output_file=staged
    )
    assert chunks == b""
    assert cut.written.size_bytes == staged.stat().st_size == len(streamed)
    assert staged.read_bytes() == streamed
    assert cut.written.sha256 == hashlib.sha256(streamed).hexdigest()


@pytest.mark.asyncio
async def test_the_buffer_writes_no_file_but_an_empty_one_in_the_staging_directory(
    buffer: buffer_service.RunningBuffer, tmp_path: Path
) -> None:
    first = time.time() - 30
    fill(buffer, synthetic_timeline(SPEC, 8 * SPEC.fps, utcnow()), first)
    start, end, event = at(first + 1.0), at(first + 6.0), at(first + 3.0)
    staging = tmp_path / "clips" / ".staging"
    staging.mkdir(parents=True)
    outside = tmp_path / "outside.mp4"
    outside.touch()
    (staging / "link.mp4").symlink_to(outside)
    (staging / "used.mp4").write_bytes(b"already written")
    for target in (outside, staging / "link.mp4", staging / "used.mp4", staging / "none.mp4"):
        mp4, cut, _replies = await cut_and_read(
            buffer, start, end, event, exact=False, output_file=target
        )
        assert cut.written is None, target  # streamed instead
        assert len(mp4) == cut.result.size_bytes
    assert outside.read_bytes() == b""
    assert (staging / "used.mp4").read_bytes() == b"already written"
    assert not (staging / "none.mp4").exists()


@pytest.mark.asyncio
async def test_cut_window_refuses_a_window_not_yet_buffered(
    buffer: buffer_service.RunningBuffer,
) -> None:
    first = time.time() - 10
    fill(buffer, synthetic_timeline(SPEC, 5 * SPEC.fps, utcnow()), first)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cut_and_read(buffer, at(first + 1), at(first + 8), at(first + 2), exact=False)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not buffered up to" in caught.value.details()


class CountingBuffer(Buffer):
    """A Buffer that records its cuts (how many, how many at once) and the
    ReadWindow follows it serves."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.running = self.most = self.cuts = self.follows = 0

    def read_window(self, *args: object, follow: bool = True, **kwargs: object):  # type: ignore[override]
        self.follows += follow
        return super().read_window(*args, follow=follow, **kwargs)  # type: ignore[arg-type]

    async def cut_window(self, *args: object, **kwargs: object):  # type: ignore[override]
        self.cuts += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.2)  # long enough for the other calls to arrive
            return await super().cut_window(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            self.running -= 1


async def test_cuts_in_memory_are_bounded(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        cameras=[{"id": "cam", "source": "synthetic://", "buffer_seconds": 600}],
        registers=[],
        services={"buffer": {"port": 0}},
    )
    counting = CountingBuffer(settings.cameras, max_window_seconds=120)
    running = await buffer_service.start(settings, buffer=counting, ingest=False)
    try:
        first = time.time() - 60
        fill(running, synthetic_timeline(SPEC, 10 * 15, utcnow()), first)
        start, end, event = (datetime.fromtimestamp(first + t, UTC) for t in (1.5, 6.5, 4.0))
        results = await asyncio.gather(
            *(cut_and_read(running, start, end, event, exact=False) for _ in range(5))
        )
    finally:
        await running.stop(0)
    assert counting.most == buffer_service.MAX_CONCURRENT_CUTS
    assert len({hashlib.sha256(mp4).hexdigest() for mp4, _cut, _replies in results}) == 1


async def test_a_past_clip_is_cut_in_the_buffer_not_read(tmp_path: Path) -> None:
    from eventclip.clipper import service as clipper_service
    from eventclip.v1 import clips_pb2, clips_pb2_grpc

    settings = load_settings(
        data_dir=tmp_path,
        cameras=[{"id": "cam", "source": "synthetic://", "buffer_seconds": 600}],
        registers=[],
        services={"buffer": {"port": 0}, "clipper": {"port": 0}},
    )
    counting = CountingBuffer(settings.cameras, max_window_seconds=120)
    running = await buffer_service.start(settings, buffer=counting, ingest=False)
    settings.services.buffer.port = running.port
    clipper = await clipper_service.start(settings)
    try:
        first = time.time() - 60
        fill(running, synthetic_timeline(SPEC, 10 * 15, utcnow()), first)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{clipper.port}") as channel:
            stub = clips_pb2_grpc.ClipServiceStub(channel)
            clip = await stub.CreateClip(
                clips_pb2.CreateClipRequest(
                    camera_id="cam",
                    event_time=to_timestamp(first + 4),
                    pre_roll=Duration(seconds=2),
                    post_roll=Duration(seconds=2),
                )
            )
            deadline = time.monotonic() + 20
            while clip.state not in (clips_pb2.Clip.READY, clips_pb2.Clip.FAILED):
                assert time.monotonic() < deadline, clip
                await asyncio.sleep(0.05)
                clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip.id))
    finally:
        await clipper.stop(0)
        await running.stop(0)
    assert clip.state == clips_pb2.Clip.READY, clip.failure_reason
    assert clip.complete and not clip.gaps
    assert (counting.cuts, counting.follows) == (1, 0)
    [video] = settings.clips_dir.glob(f"**/{clip.id}.mp4")
    assert hashlib.sha256(video.read_bytes()).hexdigest() == clip.sha256
