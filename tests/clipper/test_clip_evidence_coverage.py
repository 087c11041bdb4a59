"""Clips that say what they hold: coverage, gaps, stops and restarts, retries.

A real BufferService (ingest off; real H.264 from libx264 put into its ring at
the wall-clock times a camera would deliver it) and the real ClipService talk
gRPC on loopback. Cameras going offline, a pre-roll older than the ring, a
clipper stopped in the middle of a post-roll and a buffer that restarted are
made by what is (not) put into the ring, and by stopping and starting the
real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
import grpc
import pytest
import pytest_asyncio
from conftest import free_port

from eventclip.buffer import service as buffer_service
from eventclip.buffer.ring import BufferedPacket, CodecParams, PacketRing
from eventclip.buffer.service import Buffer
from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper import jobs
from eventclip.clipper import service as clipper_service
from eventclip.config import Settings, load_settings
from eventclip.media.timelines import Timeline
from eventclip.testing import ring_input
from eventclip.timeutil import timestamp_seconds, to_duration, to_timestamp, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc

from .media import synthetic_timeline

State = clips_pb2.Clip.State
FPS, GOP = 15, 15  # one keyframe a second
SPEC = SyntheticSpec(width=320, height=180, fps=FPS, gop_frames=GOP)
FRAME = 1 / FPS


@pytest.fixture(scope="module")
def footage() -> Timeline:
    """40 s of real H.264 (libx264), made once."""
    return synthetic_timeline(SPEC, 40 * FPS, utcnow())


@dataclass
class Site:
    settings: Settings
    buffer: buffer_service.RunningBuffer
    clipper: clipper_service.RunningClipper | None = None
    stub: clips_pb2_grpc.ClipServiceStub | None = None
    channel: grpc.aio.Channel | None = None

    @property
    def ring(self) -> PacketRing:
        return self.buffer.buffer.camera("cam").ring

    async def start_clipper(self) -> clips_pb2_grpc.ClipServiceStub:
        self.clipper = await clipper_service.start(self.settings)
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.clipper.port}")
        self.stub = clips_pb2_grpc.ClipServiceStub(self.channel)
        return self.stub

    async def stop_clipper(self, grace: float = 0.0) -> None:
        assert self.clipper is not None and self.channel is not None
        await self.channel.close()
        await self.clipper.stop(grace)
        self.clipper = self.stub = self.channel = None


def site_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "cameras": [{"id": "cam", "source": "synthetic://", "buffer_seconds": 120}],
        "registers": [],
        "clips": {"max_attempts": 2, "max_seconds": 120},
        "services": {"buffer": {"port": free_port()}, "clipper": {"port": 0}},
    }
    values.update(overrides)
    return load_settings(**values)


@pytest_asyncio.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = site_settings(tmp_path / "data")
    # A camera that delivers nothing for 1 s counts as stalled (production: 10 s).
    buffer = Buffer(settings.cameras, max_window_seconds=120, stall_timeout=1.0)
    running = await buffer_service.start(settings, buffer=buffer, ingest=False)
    site = Site(settings, running)
    try:
        yield site
    finally:
        if site.clipper is not None:
            await site.stop_clipper()
        await running.stop(0)


def put(ring: PacketRing, codec: CodecParams, packets: Iterable[BufferedPacket]) -> None:
    for packet in packets:
        ring.append(packet, codec)


async def deliver_live(ring: PacketRing, codec: CodecParams, packets: list[BufferedPacket]) -> None:
    """Append each packet when its wall time comes, as a camera would."""
    for packet in packets:
        await asyncio.sleep(max(0.0, packet.wall_time - time.time()))
        ring.append(packet, codec)


def live_camera(
    site: Site, footage: Timeline, now: float, until: float
) -> tuple[CodecParams, list[BufferedPacket], asyncio.Task[None]]:
    """A camera whose footage started 10 s before ``now``: what it sent until
    now is in the ring, and it goes on sending live until ``until``."""
    codec, packets = ring_input(footage, now - 10)
    put(site.ring, codec, [p for p in packets if p.wall_time <= now])
    camera = asyncio.create_task(
        deliver_live(site.ring, codec, [p for p in packets if now < p.wall_time <= until])
    )
    return codec, packets, camera


def clip_request(event: float, pre: float, post: float) -> clips_pb2.CreateClipRequest:
    return clips_pb2.CreateClipRequest(
        camera_id="cam",
        event_time=to_timestamp(event),
        pre_roll=to_duration(pre),
        post_roll=to_duration(post),
    )


async def wait_state(
    stub: clips_pb2_grpc.ClipServiceStub,
    clip_id: str,
    states: tuple[int, ...] = (State.READY, State.FAILED),
    within: float = 30,
) -> clips_pb2.Clip:
    deadline = time.monotonic() + within
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id))
        if clip.state in states:
            return clip
        assert time.monotonic() < deadline, f"clip still {State.Name(clip.state)}: {clip}"
        await asyncio.sleep(0.05)


def stored_video(settings: Settings, clip: clips_pb2.Clip) -> Path:
    files = list(settings.clips_dir.glob(f"**/{clip.id}.mp4"))
    assert len(files) == 1, files
    path = files[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == clip.sha256
    return path


def frame_times(path: Path) -> list[float]:
    """Presentation times (s from the start of the MP4) of every decoded frame."""
    with closing(av.open(str(path))) as container:
        return [float(f.time) for f in container.decode(video=0)]


def gaps(clip: clips_pb2.Clip) -> list[tuple[float, float]]:
    return [(timestamp_seconds(g.start_time), timestamp_seconds(g.end_time)) for g in clip.gaps]


async def test_whole_window_is_complete_without_gaps(site: Site, footage: Timeline) -> None:
    t0 = time.time() - 30
    codec, packets = ring_input(footage, t0)
    put(site.ring, codec, [p for p in packets if p.wall_time <= t0 + 20])
    stub = await site.start_clipper()
    clip = await wait_state(stub, (await stub.CreateClip(clip_request(t0 + 10, 4, 4))).id)
    assert clip.state == State.READY, clip.failure_reason
    assert clip.complete and not clip.gaps and clip.failure_reason == ""
    times = frame_times(stored_video(site.settings, clip))
    # 8 s of window from its keyframe, every frame there.
    assert len(times) >= 8 * FPS


async def test_pre_roll_longer_than_buffered_is_ready_but_incomplete(
    site: Site, footage: Timeline
) -> None:
    t0 = time.time() - 30
    codec, packets = ring_input(footage, t0)
    put(site.ring, codec, [p for p in packets if p.wall_time <= t0 + 20])
    stub = await site.start_clipper()
    # The event is 2 s after the oldest packet; the pre-roll asks for 6 s.
    clip = await wait_state(stub, (await stub.CreateClip(clip_request(t0 + 2, 6, 3))).id)
    assert clip.state == State.READY, clip.failure_reason
    assert not clip.complete
    [(start, end)] = gaps(clip)
    assert start == pytest.approx(t0 - 4, abs=0.01)
    assert end == pytest.approx(t0, abs=FRAME)
    assert timestamp_seconds(clip.media_start_time) == pytest.approx(t0, abs=0.01)
    assert clip.failure_reason.startswith("incomplete: 4.0 s of the window is not on video")
    # The MP4 holds what the ring had: 5 s from t0, nothing invented.
    times = frame_times(stored_video(site.settings, clip))
    assert max(times) == pytest.approx(5 - FRAME, abs=2 * FRAME)


async def test_camera_offline_in_the_post_roll_gives_what_was_recorded(
    site: Site, footage: Timeline
) -> None:
    now = time.time()
    t0 = now - 10
    codec, packets = ring_input(footage, t0)
    put(site.ring, codec, [p for p in packets if p.wall_time <= now])
    stub = await site.start_clipper()
    clip = await stub.CreateClip(clip_request(now - 1, 3, 4))
    # The camera delivers one more second, then goes silent for good.
    await deliver_live(site.ring, codec, [p for p in packets if now < p.wall_time <= now + 1])
    clip = await wait_state(stub, clip.id)
    assert clip.state == State.READY, clip.failure_reason
    assert not clip.complete
    [(start, end)] = gaps(clip)
    assert start == pytest.approx(now + 1, abs=2 * FRAME)
    assert end == pytest.approx(now + 3, abs=0.01)
    # The last frame (at now + 1) is shown for one frame duration.
    assert "1.9 s of the window is not on video" in clip.failure_reason
    assert "the buffer stopped delivering (UNAVAILABLE" in clip.failure_reason
    assert clip.attempts == 2  # retried once, then cut from what was staged
    stored_video(site.settings, clip)


async def test_event_in_a_gap_fails_and_keeps_the_media(site: Site, footage: Timeline) -> None:
    t0 = time.time() - 30
    codec, packets = ring_input(footage, t0)
    put(site.ring, codec, [p for p in packets if p.wall_time < t0 + 4])
    # The camera reconnects 5 s later: a new timeline starting on a keyframe.
    later = Timeline(footage.codec, footage.packets[9 * FPS : 15 * FPS])
    codec2, packets2 = ring_input(later, t0 + 9, timeline_id=2)
    put(site.ring, codec2, packets2)
    stub = await site.start_clipper()
    clip = await wait_state(stub, (await stub.CreateClip(clip_request(t0 + 6.5, 4, 4))).id)
    assert clip.state == State.FAILED
    assert clip.failure_reason.startswith("the event at ")
    assert "UTC is not on video" in clip.failure_reason
    assert not clip.complete
    [(start, end)] = gaps(clip)
    assert start == pytest.approx(t0 + 4, abs=2 * FRAME)
    assert end == pytest.approx(t0 + 9, abs=0.01)
    # What was recorded around the event is kept, hashed, and decodes.
    assert clip.size_bytes > 0
    times = frame_times(stored_video(site.settings, clip))
    # From the keyframe at t0+2 to the gap at t0+4; from t0+9 to the first frame
    # at or after the end, t0+10.5 (23 frame durations later).
    assert len(times) == 2 * FPS + 24


async def test_stop_in_the_post_roll_stages_and_a_restart_finishes_whole(
    site: Site, footage: Timeline
) -> None:
    now = time.time()
    _codec, _packets, camera = live_camera(site, footage, now, now + 8)
    try:
        stub = await site.start_clipper()
        clip = await stub.CreateClip(clip_request(now - 1, 3, 5))
        await wait_state(stub, clip.id, (State.RECORDING,))
        await asyncio.sleep(max(0.0, now + 1.5 - time.time()))  # into the post-roll
        await site.stop_clipper(grace=0)
        # Nothing was cut; what the job had received is on disk.
        logs = list(site.settings.staged_windows_dir.glob("*.window"))
        assert [p.stem for p in logs] == [clip.id]
        assert logs[0].stat().st_size > 0
        await asyncio.sleep(1.0)  # the clipper is down for a second
        stub = await site.start_clipper()
        assert (await stub.GetClip(clips_pb2.GetClipRequest(id=clip.id))).state in (
            State.PENDING,
            State.RECORDING,
        )
        clip = await wait_state(stub, clip.id)
    finally:
        camera.cancel()
    assert clip.state == State.READY, clip.failure_reason
    # The buffer still held the time the clipper was down: nothing is missing.
    assert clip.complete and not clip.gaps, clip.failure_reason
    times = frame_times(stored_video(site.settings, clip))
    assert len(times) >= 8 * FPS
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert max(steps) == pytest.approx(FRAME, abs=1e-3)  # no frame twice, none missing
    assert not list(site.settings.staged_windows_dir.glob("*.window"))


async def test_stop_then_a_buffer_restart_leaves_a_gap_not_a_lie(
    site: Site, footage: Timeline
) -> None:
    now = time.time()
    _codec, packets, camera = live_camera(site, footage, now, now + 1)
    stub = await site.start_clipper()
    clip = await stub.CreateClip(clip_request(now - 1, 3, 6))
    await camera
    await asyncio.sleep(0.3)  # the job has the last packet before it is stopped
    await site.stop_clipper(grace=0)
    # The buffer restarts: its ring starts over, with a new timeline 2 s later.
    site.buffer.buffer.camera("cam").ring = ring = PacketRing(120, 2**30)
    later = Timeline(footage.codec, footage.packets[13 * FPS :])
    codec2, packets2 = ring_input(later, now + 3, timeline_id=99)
    camera = asyncio.create_task(
        deliver_live(ring, codec2, [p for p in packets2 if p.wall_time <= now + 6])
    )
    try:
        stub = await site.start_clipper()
        clip = await wait_state(stub, clip.id)
    finally:
        camera.cancel()
    assert clip.state == State.READY, clip.failure_reason
    assert not clip.complete
    [(start, end)] = gaps(clip)
    assert start == pytest.approx(now + 1, abs=2 * FRAME)
    assert end == pytest.approx(now + 3, abs=2 * FRAME)
    times = frame_times(stored_video(site.settings, clip))
    # From the first frame to the stop (now + 1), then from the restart (now + 3) to
    # the first frame at or after the end (now + 5), joined: the gap is not played.
    first = timestamp_seconds(clip.media_start_time) - 1e-3
    before = [p for p in packets if first <= p.wall_time <= now + 1]
    after = [p for p in packets2 if p.wall_time < timestamp_seconds(clip.end_time)]
    assert len(times) == len(before) + len(after) + 1


async def test_a_buffer_that_never_answers_is_retried_then_given_up(tmp_path: Path) -> None:
    # Nothing listens at the buffer's address.
    settings = site_settings(tmp_path / "data")
    service = await clipper_service.start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = clips_pb2_grpc.ClipServiceStub(channel)
            clip = await stub.CreateClip(clip_request(time.time() - 10, 2, 2))
            clip = await wait_state(stub, clip.id)
    finally:
        await service.stop(0)
    assert clip.state == State.FAILED
    assert clip.attempts == 2
    assert clip.failure_reason.startswith(
        "gave up after 2 attempts: buffer ReadWindow: UNAVAILABLE"
    )
    assert clip.size_bytes == 0 and not clip.sha256


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs for the clips: a real file system that runs out of space
    (ENOSPC) once ``fill`` takes it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "data" / "clips"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """A file taking all the space of ``disk`` (ENOSPC for anyone else)."""
    filler = disk / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 1024 * 1024)
            f.flush()
    return filler


async def wait_failure_reason(stub, clip_id: str, text: str) -> clips_pb2.Clip:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id))
        if text in clip.failure_reason:
            return clip
        assert time.monotonic() < deadline, clip
        await asyncio.sleep(0.05)


async def test_a_full_disk_is_retried_and_the_clip_made_once_space_is_freed(
    site: Site, footage: Timeline, small_disk: Path
) -> None:
    assert site.settings.clips_dir == small_disk
    t0 = time.time() - 30
    codec, packets = ring_input(footage, t0)
    put(site.ring, codec, [p for p in packets if p.wall_time <= t0 + 20])
    filler = fill(small_disk)
    stub = await site.start_clipper()
    created = await stub.CreateClip(clip_request(t0 + 10, 8, 8))
    # Storage failures do not count against max_attempts (2): still waiting.
    clip = await wait_failure_reason(stub, created.id, "No space left on device")
    assert clip.state in (State.PENDING, State.RECORDING) and clip.attempts <= 1
    await asyncio.sleep(jobs.STORAGE_RETRY_SECONDS + 2)  # a second storage failure
    clip = await stub.GetClip(clips_pb2.GetClipRequest(id=created.id))
    assert clip.state in (State.PENDING, State.RECORDING) and clip.attempts <= 1
    assert [p.name for p in small_disk.rglob("*") if p.is_file()] == ["filler"]  # noqa: ASYNC240
    filler.unlink()
    clip = await wait_state(stub, created.id, within=jobs.STORAGE_RETRY_SECONDS + 20)
    assert clip.state == State.READY, clip.failure_reason
    assert clip.complete
    assert clip.attempts == 1


async def test_a_full_disk_fails_the_clip_once_the_window_leaves_the_buffer(
    site: Site, footage: Timeline, small_disk: Path
) -> None:
    t0 = time.time() - 30
    codec, packets = ring_input(footage, t0)
    put(site.ring, codec, [p for p in packets if p.wall_time <= t0 + 20])
    fill(small_disk)
    stub = await site.start_clipper()
    created = await stub.CreateClip(clip_request(t0 + 10, 8, 8))
    await wait_failure_reason(stub, created.id, "No space left on device")
    site.buffer.buffer.camera("cam").ring = type(site.ring)(1, 1)  # the window is gone
    clip = await wait_state(stub, created.id, within=jobs.STORAGE_RETRY_SECONDS + 20)
    assert clip.state == State.FAILED
    assert "No space left on device" in clip.failure_reason  # what happened first
    assert clip.size_bytes == 0 and not clip.sha256
    assert [p.name for p in small_disk.rglob("*") if p.is_file()] == ["filler"]  # noqa: ASYNC240
    with contextlib.suppress(FileNotFoundError):
        assert not list(site.settings.staged_windows_dir.iterdir())
