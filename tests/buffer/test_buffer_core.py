"""Buffer.read_window without gRPC, on packets injected into a camera's ring
(no ingest): batch sizes, timeline codec messages, stall and cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.service import MAX_BATCH_BYTES, Buffer, camera_message
from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.config import CameraConfig
from eventclip.errors import Unavailable

from .media import codec_for, synthetic_packets

#: 60 Mbit/s at 720p: about 175 kB per frame, so a 2 s window needs several batches.
BIG = SyntheticSpec(width=1280, height=720, fps=10, gop_frames=10, bitrate=60_000_000)
SMALL = SyntheticSpec(width=160, height=120, fps=10, gop_frames=10)
ZERO = 1_700_000_000.0


def buffer_with(
    packets: list[BufferedPacket],
    spec: SyntheticSpec,
    camera: CameraConfig | None = None,
    **kwargs: float,
) -> Buffer:
    camera = camera or CameraConfig(id="cam", source="synthetic://")
    buffer = Buffer([camera], max_window_seconds=600, **kwargs)
    ring = buffer.camera("cam").ring
    for p in packets:
        ring.append(p, codec_for(spec, p.timeline_id))
    return buffer


async def collect(
    buffer: Buffer, start: float, end: float
) -> list[CodecParams | list[BufferedPacket]]:
    return [item async for item in buffer.read_window("cam", start, end)]


async def test_batches_stay_under_one_mib_and_keep_every_packet() -> None:
    packets = synthetic_packets(BIG, 40)
    assert sum(len(p.data) for p in packets[:21]) > 3 * MAX_BATCH_BYTES
    buffer = buffer_with(packets, BIG)
    items = await collect(buffer, ZERO + 0.5, ZERO + 2.0)
    assert isinstance(items[0], CodecParams) and items[0].width == 1280
    batches = items[1:]
    assert len(batches) >= 4
    assert all(
        isinstance(b, list) and sum(len(p.data) for p in b) <= MAX_BATCH_BYTES for b in batches
    )
    assert [p for b in batches for p in b] == packets[:21]  # 0.0 .. 2.0 s


async def test_a_new_timeline_gets_its_codec_message_before_its_packets() -> None:
    first = synthetic_packets(SMALL, 30, timeline_id=7)
    second = synthetic_packets(SMALL, 30, timeline_id=8, wall_zero=ZERO + 3.1)
    buffer = buffer_with(first + second, SMALL)
    items = await collect(buffer, ZERO + 1.5, ZERO + 4.5)
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["CodecParams", "list", "CodecParams", "list"]
    assert (items[0].timeline_id, items[2].timeline_id) == (7, 8)
    assert all(p.timeline_id == 7 for p in items[1]) and all(p.timeline_id == 8 for p in items[3])
    assert items[3][0].keyframe and items[3][-1].wall_time == pytest.approx(ZERO + 4.5)


async def test_start_older_than_the_ring_serves_from_the_oldest_keyframe() -> None:
    buffer = buffer_with(synthetic_packets(SMALL, 30, wall_zero=ZERO + 100), SMALL)
    items = await collect(buffer, ZERO + 90, ZERO + 101)
    assert items[1][0].keyframe and items[1][0].wall_time == ZERO + 100


async def test_a_stalled_camera_ends_a_live_follow_with_unavailable() -> None:
    now = time.time()
    buffer = buffer_with(synthetic_packets(SMALL, 20, wall_zero=now - 2), SMALL, stall_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"no packet for 0\.3 s"):
        await collect(buffer, now - 1.5, now + 5)
    assert time.monotonic() - started < 1.5


async def test_cancelling_a_live_follow_leaves_no_waiter_behind() -> None:
    now = time.time()
    packets = synthetic_packets(SMALL, 30, wall_zero=now - 2)
    buffer = buffer_with(packets[:20], SMALL)
    ring = buffer.camera("cam").ring
    task = asyncio.create_task(collect(buffer, now - 1.5, now + 5))
    await asyncio.sleep(0.05)
    assert ring._waiters  # the follow waits on the ring
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not ring._waiters
    ring.append(packets[20], codec_for(SMALL, 1))  # appending after a cancel is harmless


async def test_a_camera_cutting_its_gop_at_the_byte_bound_says_so() -> None:
    now = time.time()
    runaway = SyntheticSpec(width=160, height=120, fps=10, gop_frames=250)
    packets = synthetic_packets(runaway, 40, wall_zero=now - 4)
    bound = sum(len(p.data) for p in packets[:10])
    camera = CameraConfig(
        id="cam", source="synthetic://", buffer_bytes=4 * bound, max_gop_bytes=bound
    )
    buffer = buffer_with(packets, runaway, camera, stall_timeout=0.3)
    cam = buffer.camera("cam")
    message = camera_message(cam, now).status_message
    assert "dropping packets until the next keyframe (30 packets" in message
    # A live follow stalls at the cut and says why.
    with pytest.raises(Unavailable, match="dropping packets until the next keyframe"):
        await collect(buffer, now - 4, now + 5)


def test_max_gop_bytes_cannot_exceed_buffer_bytes() -> None:
    with pytest.raises(ValueError, match=r"max_gop_bytes \(1001\) must not exceed buffer_bytes"):
        CameraConfig(id="cam", source="synthetic://", buffer_bytes=1000, max_gop_bytes=1001)
    assert CameraConfig(id="cam", source="synthetic://", buffer_bytes=1000).gop_bytes_bound == 500
