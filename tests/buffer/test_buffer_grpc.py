"""BufferService over real gRPC on loopback: the street recording replayed live
(file://), a synthetic:// camera and a camera whose source cannot be opened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction

import grpc
import pytest
import pytest_asyncio
from conftest import STREET_BIKES, free_port

from eventclip.buffer.service import MAX_BATCH_BYTES, Buffer, RunningBuffer, start
from eventclip.config import load_settings
from eventclip.retry import Backoff
from eventclip.timeutil import duration_seconds, timestamp_seconds, to_timestamp
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_WINDOW = 60.0


@dataclass
class Suite:
    service: RunningBuffer
    stub: buffer_pb2_grpc.BufferServiceStub


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    if not STREET_BIKES.is_file():
        pytest.skip(f"{STREET_BIKES} not present")
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("buffer"),
        cameras=[
            {"id": "street", "source": f"file://{STREET_BIKES}", "buffer_seconds": 30},
            {"id": "synth", "source": "synthetic://320x180@15?gop=15"},
            {"id": "broken", "source": "file:///nonexistent/recording.mp4"},
        ],
        registers=[],
        clips={"max_seconds": MAX_WINDOW},
        services={"buffer": {"port": free_port()}},
    )
    buffer = Buffer(
        settings.cameras,
        max_window_seconds=settings.clips.max_seconds,
        stall_timeout=3.0,
        open_timeout=2.0,
        read_timeout=2.0,
        backoff=Backoff(initial=0.2, maximum=1.0),
    )
    service = await start(settings, buffer=buffer)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        yield Suite(service, buffer_pb2_grpc.BufferServiceStub(channel))
    finally:
        await channel.close()
        started = time.monotonic()
        await service.stop(grace=1.0)
        assert time.monotonic() - started < 5.0
        assert all(c.worker and c.worker.join(0) for c in buffer.cameras.values())


async def buffered(suite: Suite, camera_id: str, seconds: float) -> buffer_pb2.Camera:
    deadline = time.monotonic() + 15
    while True:
        camera = await suite.stub.GetCamera(buffer_pb2.GetCameraRequest(id=camera_id))
        if duration_seconds(camera.buffered_duration) >= seconds:
            return camera
        assert time.monotonic() < deadline, f"{camera_id} never buffered {seconds} s: {camera}"
        await asyncio.sleep(0.2)


async def read_window(
    suite: Suite, camera_id: str, start: float, end: float, deadline: float = 20
) -> list[buffer_pb2.ReadWindowResponse]:
    request = buffer_pb2.ReadWindowRequest(
        camera_id=camera_id, start_time=to_timestamp(start), end_time=to_timestamp(end)
    )
    return [m async for m in suite.stub.ReadWindow(request, timeout=deadline)]


def packets_of(messages: list[buffer_pb2.ReadWindowResponse]) -> list[buffer_pb2.Packet]:
    return [p for m in messages if m.HasField("packets") for p in m.packets.packets]


async def test_cameras_report_live_status_and_a_broken_one_is_offline(suite: Suite) -> None:
    await buffered(suite, "street", 3.0)
    response = await suite.stub.ListCameras(buffer_pb2.ListCamerasRequest())
    cameras = {c.id: c for c in response.cameras}
    assert list(cameras) == ["street", "synth", "broken"]

    street = cameras["street"]
    assert street.state == buffer_pb2.Camera.ONLINE and street.status_message == ""
    assert street.source == f"file://{STREET_BIKES}"
    assert (street.codec.codec_name, street.codec.width, street.codec.height) == ("h264", 640, 272)
    assert street.codec.extradata and street.codec.pix_fmt == "yuv420p"
    assert (street.codec.frame_rate_num, street.codec.frame_rate_den) == (25, 1)
    assert 23 < street.fps < 27
    assert 50_000 < street.bitrate_bps < 5_000_000
    span = timestamp_seconds(street.newest_time) - timestamp_seconds(street.oldest_time)
    assert duration_seconds(street.buffered_duration) == pytest.approx(span, abs=1e-3)
    assert abs(timestamp_seconds(street.newest_time) - time.time()) < 1.5
    assert duration_seconds(street.last_packet_age) < 1.0
    assert street.buffered_bytes > 0 and street.gop_count >= 2
    assert duration_seconds(street.buffer_limit) == 30
    assert street.buffer_limit_bytes == 512 * 1024 * 1024

    synth = cameras["synth"]
    assert synth.state == buffer_pb2.Camera.ONLINE
    assert (synth.codec.width, synth.codec.height) == (320, 180)

    broken = cameras["broken"]
    assert broken.state == buffer_pb2.Camera.OFFLINE
    assert "No such file" in broken.status_message
    assert not broken.HasField("codec") and broken.buffered_bytes == 0

    one = await suite.stub.GetCamera(buffer_pb2.GetCameraRequest(id="synth"))
    assert one.id == "synth" and one.codec.codec_name == "h264"


async def test_read_window_starts_on_the_keyframe_at_or_before_start(suite: Suite) -> None:
    camera = await buffered(suite, "street", 4.0)
    newest = timestamp_seconds(camera.newest_time)
    start, end = newest - 2.5, newest - 0.5
    messages = await read_window(suite, "street", start, end)

    assert messages[0].HasField("codec")
    codec = messages[0].codec
    assert (codec.codec_name, codec.width, codec.height) == ("h264", 640, 272)
    assert codec.extradata == camera.codec.extradata
    time_base = Fraction(codec.time_base_num, codec.time_base_den)
    assert all(m.HasField("packets") for m in messages[1:])
    assert all(sum(len(p.data) for p in m.packets.packets) <= MAX_BATCH_BYTES for m in messages[1:])
    packets = packets_of(messages)
    first = packets[0]
    assert first.keyframe and timestamp_seconds(first.wall_time) <= start
    # It is the LAST keyframe at or before start: no later one is also before start.
    assert all(timestamp_seconds(p.wall_time) > start for p in packets[1:] if p.keyframe)

    def decode_time(p: buffer_pb2.Packet) -> float:
        return timestamp_seconds(p.wall_time) - float((p.pts - p.dts) * time_base)

    assert decode_time(packets[-1]) >= end
    assert all(decode_time(p) < end for p in packets[:-1])
    dts = [p.dts for p in packets]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)


async def test_read_window_follows_live_until_a_future_end(suite: Suite) -> None:
    await buffered(suite, "synth", 1.0)
    now = time.time()
    started = time.monotonic()
    messages = await read_window(suite, "synth", now - 0.5, now + 1.5)
    elapsed = time.monotonic() - started
    packets = packets_of(messages)
    assert messages[0].HasField("codec") and packets[0].keyframe
    assert 1.2 < elapsed < 3.0
    assert timestamp_seconds(packets[-1].wall_time) >= now + 1.5
    assert timestamp_seconds(packets[-2].wall_time) < now + 1.5
    pts = [p.pts for p in packets]
    assert pts == list(range(pts[0], pts[0] + len(pts)))  # no gap across the live edge


async def test_live_follow_is_cut_by_the_callers_deadline(suite: Suite) -> None:
    now = time.time()
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await read_window(suite, "synth", now - 0.5, now + 30, deadline=1.0)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.0
    # The service keeps serving.
    camera = await suite.stub.GetCamera(buffer_pb2.GetCameraRequest(id="synth"))
    assert camera.state == buffer_pb2.Camera.ONLINE


@pytest.mark.parametrize(
    ("camera_id", "start_offset", "end_offset", "code", "needle"),
    [
        ("nope", -2, -1, grpc.StatusCode.NOT_FOUND, "'nope' is not configured"),
        ("street", -1, -2, grpc.StatusCode.INVALID_ARGUMENT, "end_time"),
        ("street", -2, -2, grpc.StatusCode.INVALID_ARGUMENT, "end_time"),
        ("street", -MAX_WINDOW - 5, -1, grpc.StatusCode.INVALID_ARGUMENT, "maximum of 60 s"),
        ("street", -600, -590, grpc.StatusCode.FAILED_PRECONDITION, "camera street buffers"),
        ("broken", -2, -1, grpc.StatusCode.UNAVAILABLE, "No such file"),
    ],
)
async def test_read_window_errors(
    suite: Suite,
    camera_id: str,
    start_offset: float,
    end_offset: float,
    code: grpc.StatusCode,
    needle: str,
) -> None:
    now = time.time()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await read_window(suite, camera_id, now + start_offset, now + end_offset)
    assert info.value.code() == code
    assert needle in (info.value.details() or "")


async def test_read_window_requires_both_times(suite: Suite) -> None:
    request = buffer_pb2.ReadWindowRequest(camera_id="street", end_time=to_timestamp(time.time()))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        _ = [m async for m in suite.stub.ReadWindow(request, timeout=5)]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "start_time" in (info.value.details() or "")


async def test_too_old_window_says_what_is_buffered(suite: Suite) -> None:
    camera = await buffered(suite, "street", 1.0)
    now = time.time()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await read_window(suite, "street", now - 3600, now - 3590)
    details = info.value.details() or ""
    oldest = camera.oldest_time.ToDatetime().strftime("%H:%M:%S")
    assert oldest in details and "requested window ends" in details


async def test_get_unknown_camera_is_not_found(suite: Suite) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await suite.stub.GetCamera(buffer_pb2.GetCameraRequest(id="lobby"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
