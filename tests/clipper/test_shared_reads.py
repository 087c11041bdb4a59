"""Overlapping windows of one camera share one ReadWindow: SharedWindowReader
against the real BufferService on loopback gRPC, and the real ClipService.

The rings hold real H.264 (libx264 with B-frames and uneven GOPs, encoded here),
put in as a camera's ingest thread would: past video at once, live video when
its decode time comes. A gRPC server interceptor at the buffer records every
ReadWindow it serves. Every shared view is compared with the same window read
alone through WindowReader: the same packets, and the same MP4 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import grpc
import numpy as np
import pytest
import pytest_asyncio
from av.video.frame import PictureType
from conftest import free_port

from eventclip.buffer.ring import BufferedPacket, CodecParams, PacketRing
from eventclip.buffer.service import Buffer, BufferServicer
from eventclip.buffer.synthetic import SyntheticSpec, draw_frame
from eventclip.clipper import service as clipper_service
from eventclip.clipper.live import LiveRemux
from eventclip.clipper.shared_reads import SharedWindowReader
from eventclip.clipper.window_reader import FinalFailure, WindowReader
from eventclip.config import Settings, load_settings
from eventclip.media.mp4 import RemuxResult
from eventclip.rpc import CHANNEL_OPTIONS
from eventclip.timeutil import timestamp_seconds, to_duration, to_timestamp, utcnow
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc, clips_pb2, clips_pb2_grpc

from .media import mp4_samples

pytestmark = pytest.mark.asyncio(loop_scope="module")

READ_WINDOW = "/eventclip.v1.BufferService/ReadWindow"
FPS = 15
TIME_BASE = Fraction(1, FPS)
SPEC = SyntheticSpec(width=320, height=180, fps=FPS)
#: Frames between keyframes, in turn: uneven GOPs as cameras with scene-cut do.
GOP_FRAMES = (12, 17, 9, 15, 20, 11)
CAMERAS = ("past", "past-other", "live", "linger", "slow", "leave", "stall", "e2e", "e2e-other")
STALL_SECONDS = 2.0


class ReadWindowLog(grpc.aio.ServerInterceptor):
    """Records every ReadWindow the buffer serves and whether it is still open."""

    def __init__(self) -> None:
        self.requests: list[buffer_pb2.ReadWindowRequest] = []
        self.open: dict[str, int] = {}

    def of(self, camera_id: str) -> list[buffer_pb2.ReadWindowRequest]:
        return [r for r in self.requests if r.camera_id == camera_id]

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if details.method != READ_WINDOW:
            return handler
        serve = handler.unary_stream

        async def logged(
            request: buffer_pb2.ReadWindowRequest, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[buffer_pb2.ReadWindowResponse]:
            self.requests.append(request)
            self.open[request.camera_id] = self.open.get(request.camera_id, 0) + 1
            try:
                async for reply in serve(request, context):
                    yield reply
            finally:
                self.open[request.camera_id] -= 1

        return grpc.unary_stream_rpc_method_handler(
            logged,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class Site:
    settings: Settings
    buffer: Buffer
    log: ReadWindowLog
    channel: grpc.aio.Channel
    data_dir: Path

    def reader(self, **bounds: Any) -> SharedWindowReader:
        return SharedWindowReader(self.alone(), max_window_seconds=60, **bounds)

    def alone(self) -> WindowReader:
        return WindowReader(self.channel, utcnow)

    def ring(self, camera_id: str) -> PacketRing:
        return self.buffer.camera(camera_id).ring


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    data_dir = tmp_path_factory.mktemp("shared")
    port = free_port()
    settings = load_settings(
        data_dir=data_dir,
        cameras=[{"id": c, "source": "synthetic://", "buffer_seconds": 300} for c in CAMERAS],
        registers=[],
        clips={"max_seconds": 60, "max_attempts": 1},
        services={"buffer": {"port": port}, "clipper": {"port": 0}},
    )
    # Ingest stays off: the tests put the packets into the rings.
    buffer = Buffer(settings.cameras, max_window_seconds=60, stall_timeout=STALL_SECONDS)
    log = ReadWindowLog()
    server = grpc.aio.server(interceptors=[log], options=CHANNEL_OPTIONS)
    buffer_pb2_grpc.add_BufferServiceServicer_to_server(BufferServicer(buffer), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
    try:
        yield Site(settings, buffer, log, channel, data_dir)
    finally:
        await channel.close()
        await server.stop(0)


# -- video -----------------------------------------------------------------------


@functools.cache
def encoded(
    frames: int, noise: bool = False
) -> tuple[bytes, tuple[tuple[bytes, int, int, bool], ...]]:
    """``frames`` frames by libx264 with two B-frames and keyframes GOP_FRAMES
    apart: (extradata, packets as (data, pts, dts, keyframe) in decode order).
    ``noise``: random pixels, which hardly compress (~40 KB a frame)."""
    pixels = np.random.default_rng(7)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = SPEC.width, SPEC.height, "yuv420p"
    codec.time_base, codec.framerate = TIME_BASE, Fraction(FPS)
    codec.flags |= av.codec.context.Flags.global_header
    codec.options = {
        "preset": "ultrafast",
        "x264-params": "bframes=2:keyint=1000:min-keyint=1:scenecut=0",
    }
    codec.open()
    keyframes, at = set(), 0
    while at < frames:
        keyframes.add(at)
        at += GOP_FRAMES[len(keyframes) % len(GOP_FRAMES)]
    packets = []
    for index in range(frames + 1):
        frame = None
        if index < frames:
            image = (
                pixels.integers(0, 256, (SPEC.height, SPEC.width, 3), dtype=np.uint8)
                if noise
                else draw_frame(SPEC, index)
            )
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, TIME_BASE
            if index in keyframes:
                frame.pict_type = PictureType.I
        packets += [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in codec.encode(frame)]
    return bytes(codec.extradata), tuple(packets)


def timeline(
    frames: int, wall_zero: float, timeline_id: int, *, noise: bool = False
) -> tuple[CodecParams, list[BufferedPacket]]:
    """A timeline of ``frames`` frames whose pts 0 is shown just after
    ``wall_zero`` (packets without a duration, as RTSP often delivers them).

    The 7.31 ms keep window edges given in round seconds off frame times: the
    buffer compares its own float times, its replies carry them rounded to the
    nanosecond, so an exact tie could fall either way."""
    wall_zero += 0.00731
    extradata, packets = encoded(frames, noise)
    codec = CodecParams(
        "h264", extradata, SPEC.width, SPEC.height, TIME_BASE, Fraction(FPS), "yuv420p", timeline_id
    )
    return codec, [
        BufferedPacket(data, pts, dts, 0, key, wall_zero + float(pts * TIME_BASE), timeline_id)
        for data, pts, dts, key in packets
    ]


def fill(ring: PacketRing, codec: CodecParams, packets: Sequence[BufferedPacket]) -> None:
    for packet in packets:
        assert ring.append(packet, codec)


async def feed_live(
    ring: PacketRing,
    timelines: Sequence[tuple[CodecParams, list[BufferedPacket]]],
    *,
    gate: asyncio.Event | None = None,
    gate_time: float = 0.0,
) -> None:
    """Put each packet into the ring when its decode time comes, as a camera
    delivers it; none due after ``gate_time`` before ``gate`` is set."""
    for codec, packets in timelines:
        for packet in packets:
            due = packet.decode_wall_time(codec.time_base)
            if gate is not None and due > gate_time:
                await gate.wait()
            if (delay := due - time.time()) > 0:
                await asyncio.sleep(delay)
            ring.append(packet, codec)


def live_split(
    packets: list[BufferedPacket], now: float
) -> tuple[list[BufferedPacket], list[BufferedPacket]]:
    """(packets already due at ``now``, the rest)."""
    due = [p.decode_wall_time(TIME_BASE) <= now for p in packets]
    split = due.index(False) if False in due else len(due)
    return packets[:split], packets[split:]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- views -------------------------------------------------------------------------


@dataclass
class Cut:
    """What a reader handed over for one window, and the MP4 made from it."""

    replies: list[buffer_pb2.ReadWindowResponse]
    result: RemuxResult | None
    path: Path

    @property
    def tokens(self) -> list[tuple[str, bytes]]:
        """The view independent of batching: codec messages and packets, in order."""
        out = []
        for reply in self.replies:
            if reply.HasField("codec"):
                out.append(("codec", reply.codec.SerializeToString()))
            else:
                out += [("packet", p.SerializeToString()) for p in reply.packets.packets]
        return out

    @property
    def packets(self) -> list[buffer_pb2.Packet]:
        return [p for r in self.replies if r.HasField("packets") for p in r.packets.packets]

    @property
    def mp4(self) -> bytes:
        return self.path.read_bytes()


async def cut(
    replies: AsyncIterator[buffer_pb2.ReadWindowResponse],
    path: Path,
    start: float,
    received: list[buffer_pb2.ReadWindowResponse] | None = None,
) -> Cut:
    """Remux the replies as the clip job does (each fed as it arrives, in a
    worker thread) into ``path``; each reply is also appended to ``received``."""
    remux = LiveRemux(path, start_time=at(start), event_time=at(start))
    received = [] if received is None else received
    try:
        # Closed when the task is cancelled between replies, as the clip job does.
        async with contextlib.aclosing(replies):  # type: ignore[type-var]
            async for reply in replies:
                received.append(reply)
                feeding = asyncio.ensure_future(asyncio.to_thread(remux.feed, reply))
                try:
                    await asyncio.shield(feeding)
                except asyncio.CancelledError:
                    # The worker thread is still writing: aborting under it would
                    # free FFmpeg's muxer in use (a crash).
                    await asyncio.wait([feeding])
                    raise
        result = await asyncio.to_thread(remux.finish)
    finally:
        remux.abort()
    return Cut(received, result, path)


async def until(condition: Callable[[], bool], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def wall_times(replies: list[buffer_pb2.ReadWindowResponse]) -> list[float]:
    return [
        timestamp_seconds(p.wall_time)
        for r in replies
        if r.HasField("packets")
        for p in r.packets.packets
    ]


def assert_buffer_view(view: Cut, start: float, end: float, ring_start: float = 0) -> None:
    """The window as the buffer defines it: from the last keyframe at or before
    ``start`` (the oldest held, at ``ring_start``, when ``start`` is older) to
    the first packet whose decode time is at or after ``end``."""
    packets = view.packets
    assert view.replies[0].HasField("codec")
    first = timestamp_seconds(packets[0].wall_time)
    assert packets[0].keyframe and first <= max(start, ring_start)
    assert all(timestamp_seconds(p.wall_time) > start for p in packets[1:] if p.keyframe)

    def decode_time(p: buffer_pb2.Packet) -> float:
        return timestamp_seconds(p.wall_time) - float((p.pts - p.dts) * TIME_BASE)

    assert decode_time(packets[-1]) >= end
    assert all(decode_time(p) < end for p in packets[:-1])


async def assert_same_as_alone(
    site: Site,
    camera_id: str,
    shared: Cut,
    start: float,
    end: float,
    tmp_path: Path,
    ring_start: float = 0,
) -> None:
    """``shared`` holds what WindowReader gives for the window alone: the same
    packets and codec messages in the same order, and the same MP4 bytes."""
    alone = await cut(
        site.alone().read(camera_id, at(start), at(end)), tmp_path / f"alone-{start}.mp4", start
    )
    assert_buffer_view(alone, start, end, ring_start)
    assert shared.tokens == alone.tokens
    assert shared.mp4 == alone.mp4
    assert shared.result == alone.result


def decoded_frames(path: Path) -> list[av.VideoFrame]:
    with closing(av.open(str(path))) as container:
        return list(container.decode(video=0))


# -- tests -----------------------------------------------------------------------------


async def test_ten_past_windows_share_one_read_and_match_reading_alone(
    site: Site, tmp_path: Path
) -> None:
    now = time.time()
    wall_zero = now - 30
    fill(site.ring("past"), *timeline(300, wall_zero, timeline_id=101))
    fill(site.ring("past-other"), *timeline(300, wall_zero, timeline_id=102))
    windows = [(wall_zero + 3.013 + 0.9 * i, wall_zero + 7.013 + 1.25 * i) for i in range(10)]
    other = (wall_zero + 11.021, wall_zero + 14.5)
    reader = site.reader()

    cuts = await asyncio.gather(
        *(
            cut(reader.read("past", at(s), at(e)), tmp_path / f"shared-{i}.mp4", s)
            for i, (s, e) in enumerate(windows)
        ),
        cut(
            reader.read("past-other", at(other[0]), at(other[1])), tmp_path / "other.mp4", other[0]
        ),
    )

    # The buffer served one stream per camera, with the latest end asked for.
    (request,) = site.log.of("past")
    assert timestamp_seconds(request.start_time) == pytest.approx(windows[0][0], abs=1e-6)
    assert timestamp_seconds(request.end_time) == pytest.approx(windows[-1][1], abs=1e-6)
    assert len(site.log.of("past-other")) == 1
    for (start, end), shared in zip(windows, cuts[:-1], strict=True):
        await assert_same_as_alone(site, "past", shared, start, end, tmp_path)
    await assert_same_as_alone(site, "past-other", cuts[-1], *other, tmp_path)
    # Each clip is its own file, and they differ (their windows do).
    digests = {hashlib.sha256(c.mp4).hexdigest() for c in cuts}  # the other camera too
    assert len(digests) == len(cuts)
    frames = decoded_frames(cuts[0].path)
    assert frames[0].key_frame and len(frames) == cuts[0].result.frame_count


async def test_live_windows_share_one_read_plus_one_continuation(
    site: Site, tmp_path: Path
) -> None:
    """Ten live windows that join while the first one's stream follows the
    camera; the camera reconnects (a new timeline) in the middle; one reader
    is cancelled halfway. The stream opened for the first window, plus one
    continuation for the later ends, served them all."""
    ring = site.ring("live")
    now = time.time()
    first = timeline(120, now - 4.0, timeline_id=201)
    second = timeline(60, now + 4.0, timeline_id=202)  # after a reconnect
    past, rest = live_split(first[1], now)
    fill(ring, first[0], past)
    gate = asyncio.Event()
    feeder = asyncio.create_task(
        feed_live(ring, [(first[0], rest), second], gate=gate, gate_time=now + 0.5)
    )
    windows = [(now - 3.487, now + 1.013)] + [
        (now - 3.3 + 0.35 * i + 0.003, now + 1.2 + 0.6 * i + 0.007) for i in range(1, 10)
    ]
    reader = site.reader()
    received: list[list[buffer_pb2.ReadWindowResponse]] = [[] for _ in windows]

    def reading(i: int) -> asyncio.Task[Cut]:
        s, e = windows[i]
        return asyncio.create_task(
            cut(reader.read("live", at(s), at(e)), tmp_path / f"live-{i}.mp4", s, received[i])
        )

    try:
        tasks = [reading(0)]
        await until(lambda: bool(received[0]))  # its stream is open, with its own end
        tasks += [reading(i) for i in range(1, 10)]
        await until(lambda: all(received))
        gate.set()
        # Window 5 is cancelled (its job stopped) halfway through its post-roll.
        await until(lambda: max(wall_times(received[5]), default=0) > now + 2.0)
        tasks[5].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await feeder
    finally:
        feeder.cancel()

    assert isinstance(results[5], asyncio.CancelledError)
    requests = site.log.of("live")
    assert len(requests) == 2
    assert timestamp_seconds(requests[0].end_time) == pytest.approx(windows[0][1], abs=1e-6)
    # The continuation starts inside what the first stream delivered and runs to
    # the latest end.
    continuation = timestamp_seconds(requests[1].start_time)
    assert windows[0][0] < continuation <= windows[0][1]
    assert timestamp_seconds(requests[1].end_time) == pytest.approx(windows[-1][1], abs=1e-6)
    for i, ((start, end), shared) in enumerate(zip(windows, results, strict=True)):
        if i == 5:
            continue
        assert isinstance(shared, Cut)
        await assert_same_as_alone(site, "live", shared, start, end, tmp_path)
    # The windows that run past the reconnect hold both timelines.
    assert sum(t[0] == "codec" for t in results[9].tokens) == 2
    assert decoded_frames(results[9].path)[0].key_frame


async def test_a_later_window_joins_what_is_held_and_past_the_bound_reads_alone(
    site: Site, tmp_path: Path
) -> None:
    wall_zero = time.time() - 40
    fill(site.ring("linger"), *timeline(450, wall_zero, timeline_id=301))
    first = (wall_zero + 2.013, wall_zero + 8.007)
    later = (wall_zero + 5.51, wall_zero + 12.2)  # asked for once the first is cut
    reader = site.reader()

    a = await cut(reader.read("linger", at(first[0]), at(first[1])), tmp_path / "a.mp4", first[0])
    b = await cut(reader.read("linger", at(later[0]), at(later[1])), tmp_path / "b.mp4", later[0])

    # The later window was served from what the first read still held, and the
    # buffer was asked only for the rest (from the last keyframe held on).
    _, continuation = site.log.of("linger")
    assert later[0] < timestamp_seconds(continuation.start_time) <= first[1]
    assert timestamp_seconds(continuation.end_time) == pytest.approx(later[1], abs=1e-6)
    await assert_same_as_alone(site, "linger", a, *first, tmp_path)
    await assert_same_as_alone(site, "linger", b, *later, tmp_path)

    # With a bound that keeps only the newest GOP, the later window's keyframe
    # is gone when it comes: it is read on its own, and cut the same.
    bounded = site.reader(history_bytes=1)
    before = len(site.log.requests)
    a2 = await cut(
        bounded.read("linger", at(first[0]), at(first[1])), tmp_path / "a2.mp4", first[0]
    )
    b2 = await cut(
        bounded.read("linger", at(later[0]), at(later[1])), tmp_path / "b2.mp4", later[0]
    )
    windows = [
        (timestamp_seconds(r.start_time), timestamp_seconds(r.end_time))
        for r in site.log.requests[before:]
    ]
    assert windows == [pytest.approx(first, abs=1e-6), pytest.approx(later, abs=1e-6)]
    assert (a2.mp4, b2.mp4) == (a.mp4, b.mp4)


async def test_a_reader_that_stops_reading_holds_back_no_one(site: Site, tmp_path: Path) -> None:
    wall_zero = time.time() - 20
    codec, packets = timeline(120, wall_zero, timeline_id=351, noise=True)
    fill(site.ring("slow"), codec, packets)
    window = (wall_zero + 0.5, wall_zero + 7.5)  # several 1 MiB batches
    reader = site.reader(read_ahead_replies=0)
    start, end = at(window[0]), at(window[1])

    stalled = reader.read("slow", start, end)
    stalled_replies = [await anext(stalled)]  # joined, then stops reading
    reading = cut(reader.read("slow", start, end), tmp_path / "fast.mp4", window[0])
    fast = await asyncio.wait_for(reading, 20)  # whole, though the other one waits
    assert sum(r.HasField("packets") for r in fast.replies) > 3

    stalled_replies += [reply async for reply in stalled]  # its backlog was kept
    assert Cut(stalled_replies, None, tmp_path).tokens == fast.tokens
    await assert_same_as_alone(site, "slow", fast, *window, tmp_path)
    assert len(site.log.of("slow")) == 2  # the shared read, and the one alone


async def test_the_last_reader_leaving_closes_the_stream(site: Site, tmp_path: Path) -> None:
    ring = site.ring("leave")
    now = time.time()
    codec, packets = timeline(450, now - 3, timeline_id=401)
    past, rest = live_split(packets, now)
    fill(ring, codec, past)
    feeder = asyncio.create_task(feed_live(ring, [(codec, rest)]))
    end = now + 25  # far enough that a loaded machine still closes the read first
    reader = site.reader()
    received: list[list[buffer_pb2.ReadWindowResponse]] = [[], [], []]
    tasks = [
        asyncio.create_task(
            cut(
                reader.read("leave", at(now - 2 + 0.1 * i), at(end)),
                tmp_path / f"leave-{i}.mp4",
                now - 2 + 0.1 * i,
                received[i],
            )
        )
        for i in range(3)
    ]
    try:
        await until(lambda: all(received))
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        assert site.log.open["leave"] == 1  # the others still read
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await until(lambda: site.log.open["leave"] == 0)
        # Closed because nobody reads any more, not because the window ended.
        assert ring.stats().newest_time < end
    finally:
        feeder.cancel()
    assert len(site.log.of("leave")) == 1


async def test_an_upstream_failure_reaches_the_readers_that_still_needed_packets(
    site: Site, tmp_path: Path
) -> None:
    now = time.time()
    codec, packets = timeline(45, now - 3, timeline_id=501)
    fill(site.ring("stall"), codec, packets)  # ... and then the camera goes silent
    reader = site.reader()
    complete = (now - 2.8, now - 1.0)  # opens the read; all of it is buffered
    waiting = [(now - 2.5, now + 3.0), (now - 1.9, now + 4.0)]

    results = await asyncio.gather(
        *(
            cut(reader.read("stall", at(s), at(e)), tmp_path / f"stall-{i}.mp4", s)
            for i, (s, e) in enumerate([complete, *waiting])
        ),
        return_exceptions=True,
    )

    assert len(site.log.of("stall")) == 1
    assert isinstance(results[0], Cut)
    await assert_same_as_alone(site, "stall", results[0], *complete, tmp_path)
    for err in results[1:]:
        assert isinstance(err, grpc.aio.AioRpcError), err
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert "delivered no packet" in err.details()
    assert results[1] is not results[2]  # each job gets its own exception

    # A window the buffer no longer holds fails for every reader at once: final.
    gone = [(now - 200.0, now - 195.0), (now - 199.0, now - 194.0)]
    before = len(site.log.of("stall"))
    results = await asyncio.gather(
        *(
            cut(reader.read("stall", at(s), at(e)), tmp_path / f"gone-{i}.mp4", s)
            for i, (s, e) in enumerate(gone)
        ),
        return_exceptions=True,
    )
    assert len(site.log.of("stall")) == before + 1
    for err in results:
        assert isinstance(err, FinalFailure), err
        assert err.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "camera stall buffers" in str(err)

    # A window reaching back before the ring starts on its oldest keyframe; one
    # that joins it but ends before that keyframe fails as it would alone.
    older = (now - 10.0, now - 1.0)
    ended_before = (now - 9.0, now - 5.0)
    results = await asyncio.gather(
        cut(reader.read("stall", at(older[0]), at(older[1])), tmp_path / "older.mp4", older[0]),
        cut(reader.read("stall", *map(at, ended_before)), tmp_path / "before.mp4", now - 9),
        return_exceptions=True,
    )
    assert len(site.log.of("stall")) == before + 2
    assert isinstance(results[0], Cut), results[0]
    ring_start = timestamp_seconds(results[0].packets[0].wall_time)
    assert ring_start == pytest.approx(site.ring("stall").stats().oldest_time, abs=1e-6)
    await assert_same_as_alone(site, "stall", results[0], *older, tmp_path, ring_start)
    assert isinstance(results[1], FinalFailure), results[1]
    assert results[1].code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(FinalFailure) as alone:
        await cut(site.alone().read("stall", *map(at, ended_before)), tmp_path / "b.mp4", 0)
    assert alone.value.code == grpc.StatusCode.FAILED_PRECONDITION

    # Windows the buffer refuses are passed to it as they are: its answer.
    for s, e in [(now - 2.0, now - 2.5), (now - 62.0, now - 1.0)]:
        with pytest.raises(FinalFailure) as refused:
            await cut(reader.read("stall", at(s), at(e)), tmp_path / "refused.mp4", s)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def wait_finished(stub: clips_pb2_grpc.ClipServiceStub, clip_id: str) -> clips_pb2.Clip:
    deadline = time.monotonic() + 30
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id))
        if clip.state in (clips_pb2.Clip.READY, clips_pb2.Clip.FAILED):
            return clip
        assert time.monotonic() < deadline, f"clip still {clips_pb2.Clip.State.Name(clip.state)}"
        await asyncio.sleep(0.05)


async def test_ten_clips_of_one_camera_share_a_read_in_the_clip_service(
    site: Site, tmp_path: Path
) -> None:
    """The real ClipService: ten clips of one camera (past and live windows, all
    overlapping the first) are READY, each its own file and hash, byte for byte
    the clip cut alone; the buffer served one stream and one continuation."""
    ring = site.ring("e2e")
    now = time.time()
    codec, packets = timeline(150, now - 5, timeline_id=601)
    past, rest = live_split(packets, now)
    fill(ring, codec, past)
    fill(site.ring("e2e-other"), *timeline(90, now - 7, timeline_id=602))
    gate = asyncio.Event()
    feeder = asyncio.create_task(feed_live(ring, [(codec, rest)], gate=gate, gate_time=now + 0.3))

    def clip(camera_id: str, event: float, pre: float, post: float) -> clips_pb2.CreateClipRequest:
        return clips_pb2.CreateClipRequest(
            camera_id=camera_id,
            event_id=f"e-{camera_id}-{event}",
            event_time=to_timestamp(event),
            pre_roll=to_duration(pre),
            post_roll=to_duration(post),
        )

    first = clip("e2e", now - 1.0, 3.5, 2.5)  # opens the read: the earliest start
    past_ones = [clip("e2e", now - 3.2 + 0.4 * i, 1.1, 0.9) for i in range(4)]
    live_ones = [clip("e2e", now - 0.5 + 0.3 * i, 2.0, 2.1 + 0.3 * i) for i in range(5)]
    elsewhere = clip("e2e-other", now - 3.0, 1.5, 1.5)

    service = await clipper_service.start(site.settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    stub = clips_pb2_grpc.ClipServiceStub(channel)
    try:
        created = [await stub.CreateClip(first)]
        await until(lambda: len(site.log.of("e2e")) == 1)
        created += await asyncio.gather(
            *(stub.CreateClip(r) for r in [*past_ones, *live_ones, elsewhere])
        )
        for one in created:  # every job is reading before the first window ends
            await until_state_is_not(stub, one.id, clips_pb2.Clip.PENDING)
        gate.set()
        clips = [await wait_finished(stub, one.id) for one in created]
        await feeder
    finally:
        feeder.cancel()
        await channel.close()
        await service.stop(1)

    assert [c.state for c in clips] == [clips_pb2.Clip.READY] * 11, [
        c.failure_reason for c in clips
    ]
    assert len(site.log.of("e2e")) == 2  # the first window's stream + one continuation
    # A window wholly past when its job starts is cut in the buffer (CutWindow).
    assert len(site.log.of("e2e-other")) == 0
    assert len({c.sha256 for c in clips}) == 11
    for one in clips:
        stored = next(site.data_dir.rglob(f"{one.id}.mp4"))
        mp4 = stored.read_bytes()
        assert hashlib.sha256(mp4).hexdigest() == one.sha256 and len(mp4) == one.size_bytes
        start, end = timestamp_seconds(one.start_time), timestamp_seconds(one.end_time)
        alone = await cut(
            site.alone().read(one.camera_id, at(start), at(end)), tmp_path / f"{one.id}.mp4", start
        )
        assert_buffer_view(alone, start, end)
        # A window wholly past was cut by the buffer, others by the clipper:
        # the same samples either way.
        assert mp4_samples(mp4) == mp4_samples(alone.mp4)
        assert timestamp_seconds(one.media_start_time) <= start
        frames = decoded_frames(stored)
        assert frames[0].key_frame and len(frames) == alone.result.frame_count


async def until_state_is_not(
    stub: clips_pb2_grpc.ClipServiceStub, clip_id: str, state: int
) -> None:
    deadline = time.monotonic() + 20
    while (await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id))).state == state:
        assert time.monotonic() < deadline, f"clip {clip_id} stays {state}"
        await asyncio.sleep(0.02)
