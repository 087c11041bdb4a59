"""Pictures from the buffer over real gRPC: GetSnapshot (the newest keyframe as
a JPEG, decoded once per GOP) and SampleFrames (decoded frames at a rate), on
the street recording replayed live and on a synthetic H.264 camera."""

from __future__ import annotations

import asyncio
import gc
import io
import itertools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import av
import grpc
import numpy as np
import pytest
import pytest_asyncio
from conftest import STREET_BIKES, free_port

from eventclip.buffer.service import Buffer, RunningBuffer, start
from eventclip.config import load_settings
from eventclip.logs import CancelledStreamDetachFilter
from eventclip.media import pictures
from eventclip.retry import Backoff
from eventclip.timeutil import duration_seconds, timestamp_seconds
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Suite:
    service: RunningBuffer
    buffer: Buffer
    stub: buffer_pb2_grpc.BufferServiceStub


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    if not STREET_BIKES.is_file():
        pytest.fail(f"{STREET_BIKES} is missing (../shared/media, see its README)")
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("frames"),
        cameras=[
            {"id": "street", "source": f"file://{STREET_BIKES}", "buffer_seconds": 30},
            {"id": "synth", "source": "synthetic://320x180@15?gop=15"},
            {"id": "broken", "source": "file:///nonexistent/recording.mp4"},
        ],
        registers=[],
        services={"buffer": {"port": free_port()}},
    )
    buffer = Buffer(
        settings.cameras,
        max_window_seconds=60,
        stall_timeout=3.0,
        open_timeout=2.0,
        read_timeout=2.0,
        backoff=Backoff(initial=0.2, maximum=1.0),
    )
    service = await start(settings, buffer=buffer)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        suite = Suite(service, buffer, buffer_pb2_grpc.BufferServiceStub(channel))
        for camera_id in ("street", "synth"):
            await buffered(suite, camera_id, 2.5)
        yield suite
    finally:
        await channel.close()
        await service.stop(grace=1.0)


async def buffered(suite: Suite, camera_id: str, seconds: float) -> None:
    deadline = time.monotonic() + 20
    while True:
        camera = await suite.stub.GetCamera(buffer_pb2.GetCameraRequest(id=camera_id))
        if duration_seconds(camera.buffered_duration) >= seconds:
            return
        assert time.monotonic() < deadline, f"{camera_id} never buffered {seconds} s: {camera}"
        await asyncio.sleep(0.2)


def decode_jpeg(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mjpeg"
        return next(container.decode(stream)).to_ndarray(format="rgb24")


async def test_snapshot_is_the_newest_keyframe_at_the_size_asked(suite: Suite) -> None:
    ring = suite.buffer.camera("street").ring
    snapshot = await suite.stub.GetSnapshot(buffer_pb2.GetSnapshotRequest(camera_id="street"))
    keyframe = suite.buffer.camera("street").snapshots._decoded.keyframe  # type: ignore[union-attr]
    assert timestamp_seconds(snapshot.frame_time) == pytest.approx(keyframe.wall_time, abs=1e-6)
    assert keyframe.keyframe
    newest_seq, newest = ring.newest_keyframe()  # type: ignore[misc]
    assert newest.wall_time - keyframe.wall_time < 3.0  # this GOP or the one just before
    assert (snapshot.source_width, snapshot.source_height) == (640, 272)
    assert (snapshot.width, snapshot.height) == (640, 272)
    shown = decode_jpeg(snapshot.jpeg)
    assert shown.shape == (272, 640, 3)
    # The same keyframe decoded here from the ring packet: equal but for JPEG loss.
    codec = ring.codec(keyframe.timeline_id)
    direct = pictures.decode_keyframe(codec.codec_name, codec.extradata, keyframe.data)
    expected = direct.to_ndarray(format="rgb24").astype(np.int16)
    assert np.abs(shown.astype(np.int16) - expected).mean() < 4.0
    assert shown.std() > 20  # a picture of a street, not a flat frame

    small = await suite.stub.GetSnapshot(
        buffer_pb2.GetSnapshotRequest(camera_id="street", max_width=320)
    )
    if small.frame_time == snapshot.frame_time:
        assert (small.width, small.height) == (320, 136)
        assert decode_jpeg(small.jpeg).shape == (136, 320, 3)
    del newest_seq


async def test_snapshot_is_decoded_once_per_gop(suite: Suite) -> None:
    """Calls within one GOP get the same JPEG from the cache; the next GOP a new one."""
    stub, camera = suite.stub, suite.buffer.camera("synth")  # 1 s GOPs
    first = await stub.GetSnapshot(buffer_pb2.GetSnapshotRequest(camera_id="synth"))
    decoded = camera.snapshots._decoded
    again = await stub.GetSnapshot(buffer_pb2.GetSnapshotRequest(camera_id="synth"))
    if camera.snapshots._decoded is decoded:  # no new GOP in between
        assert again.jpeg == first.jpeg and again.frame_time == first.frame_time
    await asyncio.sleep(1.2)
    later = await stub.GetSnapshot(buffer_pb2.GetSnapshotRequest(camera_id="synth"))
    assert camera.snapshots._decoded is not decoded
    assert timestamp_seconds(later.frame_time) - timestamp_seconds(first.frame_time) >= 0.9
    assert (later.width, later.height) == (320, 180)
    assert decode_jpeg(later.jpeg).shape == (180, 320, 3)


async def test_snapshot_errors_say_what_is_wrong(suite: Suite) -> None:
    cases = [
        ("nope", 0, grpc.StatusCode.NOT_FOUND, "not configured"),
        ("broken", 0, grpc.StatusCode.UNAVAILABLE, "nothing buffered"),
        ("synth", -5, grpc.StatusCode.INVALID_ARGUMENT, "max_width must be >= 0"),
    ]
    for camera_id, width, code, text in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await suite.stub.GetSnapshot(
                buffer_pb2.GetSnapshotRequest(camera_id=camera_id, max_width=width)
            )
        assert caught.value.code() == code
        assert text in (caught.value.details() or "")


async def sample(
    suite: Suite, camera_id: str, fps: float, count: int, max_width: int = 0, pause: float = 0
) -> list[buffer_pb2.Frame]:
    request = buffer_pb2.SampleFramesRequest(camera_id=camera_id, fps=fps, max_width=max_width)
    frames = []
    call = suite.stub.SampleFrames(request, timeout=30)
    try:
        async for frame in call:
            frames.append(frame)
            if len(frames) == count:
                break
            await asyncio.sleep(pause)
    finally:
        call.cancel()
    return frames


def as_array(frame: buffer_pb2.Frame) -> np.ndarray:
    return np.frombuffer(frame.rgb, np.uint8).reshape(frame.height, frame.width, 3)


async def test_below_the_keyframe_rate_only_keyframes_are_decoded(suite: Suite) -> None:
    frames = await sample(suite, "synth", fps=0.5, count=3)  # GOP: 1 s
    times = [timestamp_seconds(f.frame_time) for f in frames]
    assert all(f.keyframe for f in frames)
    assert [round(b - a, 1) for a, b in itertools.pairwise(times)] == [2.0, 2.0]
    for frame in frames:
        assert (frame.width, frame.height) == (320, 180)
        assert (frame.source_width, frame.source_height) == (320, 180)
        assert as_array(frame).std() > 5


async def test_above_the_keyframe_rate_frames_come_at_the_rate(suite: Suite) -> None:
    frames = await sample(suite, "street", fps=5, count=12, max_width=320)
    times = [timestamp_seconds(f.frame_time) for f in frames]
    steps = [b - a for a, b in itertools.pairwise(times)]
    # Never faster than the rate; on the grid within one 25 fps frame, except
    # where the sampler fell behind (a loaded machine) and skipped ahead.
    assert all(s >= 0.2 - 0.001 for s in steps), steps
    on_grid = [s for s in steps if s <= 0.2 + 0.04 + 0.001]
    assert len(on_grid) >= len(steps) - 2, steps
    assert not all(f.keyframe for f in frames)  # P-frames decoded too
    assert {(f.width, f.height) for f in frames} == {(320, 136)}
    assert {(f.source_width, f.source_height) for f in frames} == {(640, 272)}
    pictures_ = [as_array(f).astype(np.int16) for f in frames]
    assert max(np.abs(b - a).mean() for a, b in itertools.pairwise(pictures_)) > 1
    # The frame the sampler decoded is the one a decoder from the same
    # keyframe, set up the same way, gives.
    ring = suite.buffer.camera("street").ring
    last = frames[-1]
    when = timestamp_seconds(last.frame_time)
    start = ring.find_start(when)
    packets = ring.read(start, 400)
    codec = ring.codec(packets[0].timeline_id)
    decoder = pictures.new_decoder(codec.codec_name, codec.extradata, skip_loop_filter=True)
    by_pts = {p.pts: p.wall_time for p in packets}
    found = None
    for packet in packets:
        av_packet = av.Packet(packet.data)
        av_packet.pts, av_packet.dts = packet.pts, packet.dts
        for frame in pictures.decode(decoder, [av_packet]):
            if abs(by_pts.get(frame.pts, 0.0) - when) < 1e-6:  # via Timestamp nanos
                found = pictures.rgb_array(frame, 320)
        if found is not None:
            break
    assert found is not None
    assert np.array_equal(found, as_array(last))


async def test_a_slow_reader_skips_ahead_instead_of_falling_behind(suite: Suite) -> None:
    """The sampler itself (no transport in between, whose buffers would hold
    frames already made): read 2.5 s apart at 25 fps, frames stay within
    about two GOPs of live instead of trailing further each time."""
    ring = suite.buffer.camera("street").ring
    lags = []
    frames = suite.buffer.sample_frames("street", 25, 160)
    try:
        async for frame in frames:
            newest = ring.stats().newest_time
            assert newest is not None
            lags.append(newest - frame.wall_time)
            if len(lags) == 5:
                break
            await asyncio.sleep(2.5)
    finally:
        await frames.aclose()
    # A queue would trail by 2.5 s more each read (10 s by the fifth); this
    # recording's keyframes are up to 2.44 s apart.
    assert max(lags) < 5.0, lags


async def test_sample_frames_refuses_a_bad_rate(suite: Suite) -> None:
    for fps in (0, -1, 1000):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sample(suite, "synth", fps=fps, count=1)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "fps must be > 0" in (caught.value.details() or "")


async def test_a_cancelled_stream_logs_no_detach_error(
    suite: Suite, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenTelemetry logs "Failed to detach context" with a traceback for every
    server stream a client cancels (upstream issue #2357); the services' log
    setup drops exactly that record."""
    otel = logging.getLogger("opentelemetry.context")

    async def cancelled_stream() -> list[logging.LogRecord]:
        caplog.clear()
        # Cancelled while the server writes (a frame every 40 ms): the case
        # that logs it.
        await sample(suite, "street", fps=25, count=3)
        await asyncio.sleep(0.3)  # the server sees the cancel
        gc.collect()  # the instrumentation's generator is closed when collected
        await asyncio.sleep(0.1)
        return [r for r in caplog.records if r.getMessage() == "Failed to detach context"]

    with caplog.at_level(logging.ERROR):
        for _ in range(5):  # a cancel that lands between writes logs nothing
            if await cancelled_stream():
                break
        else:
            pytest.fail("the upstream error no longer happens: drop the filter")
        detach_filter = CancelledStreamDetachFilter()
        otel.addFilter(detach_filter)
        try:
            for _ in range(5):
                assert await cancelled_stream() == []
        finally:
            otel.removeFilter(detach_filter)
