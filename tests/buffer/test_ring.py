"""PacketRing on real H.264 (libx264 via SyntheticEncoder, and the street
recording with B-frames): bounds, whole-GOP eviction, window selection,
timelines and waking live readers."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av
import pytest

from eventclip.buffer.ring import BufferedPacket, PacketRing
from eventclip.buffer.synthetic import SyntheticSpec

from .media import codec_for, decoded_pts, synthetic_packets

#: 1 s GOPs at 10 fps: keyframes at wall_zero + 0, 1, 2, ... s.
SPEC = SyntheticSpec(width=160, height=120, fps=10, gop_frames=10)
ZERO = 1_700_000_000.0


def filled(ring: PacketRing, packets: list[BufferedPacket]) -> PacketRing:
    codecs = {}
    for p in packets:
        codec = codecs.setdefault(p.timeline_id, codec_for(SPEC, p.timeline_id))
        ring.append(p, codec)
    return ring


def gops_of(packets: list[BufferedPacket]) -> list[list[BufferedPacket]]:
    gops: list[list[BufferedPacket]] = []
    for p in packets:
        if p.keyframe:
            gops.append([])
        if gops:
            gops[-1].append(p)
    return gops


def test_encoder_gives_the_gop_structure_the_tests_assume() -> None:
    packets = synthetic_packets(SPEC, 100)
    assert [p.wall_time - ZERO for p in packets if p.keyframe] == pytest.approx(range(10))


def test_seconds_bound_keeps_at_least_the_window_and_at_most_one_gop_more() -> None:
    ring = filled(PacketRing(max_seconds=3.0, max_bytes=1 << 30), synthetic_packets(SPEC, 100))
    stats = ring.stats()
    assert 3.0 <= stats.buffered_seconds < 3.0 + 1.0
    assert stats.newest_time == pytest.approx(ZERO + 9.9)
    assert stats.gop_count == 4
    held = ring.read(ring.first_seq)
    assert held[0].keyframe and held[0].wall_time == pytest.approx(ZERO + 6.0)
    assert len(held) == len(ring) == 40


def test_bytes_bound_drops_whole_gops_from_the_old_end() -> None:
    packets = synthetic_packets(SPEC, 100)
    sizes = [sum(len(p.data) for p in gop) for gop in gops_of(packets)]
    limit = sum(sizes[-3:]) + sizes[-4] // 2  # room for 3 GOPs and a half
    ring = filled(PacketRing(max_seconds=3600, max_bytes=limit), packets)
    stats = ring.stats()
    assert stats.gop_count == 3
    assert stats.buffered_bytes == sum(sizes[-3:]) <= limit
    held = ring.read(ring.first_seq)
    assert held == packets[70:]  # whole GOPs: nothing partial at the old end


def test_newest_gop_is_never_evicted_even_over_the_byte_bound() -> None:
    packets = synthetic_packets(SPEC, 25)
    ring = filled(PacketRing(max_seconds=0.1, max_bytes=1, max_gop_bytes=1 << 20), packets)
    assert ring.stats().gop_count == 1
    assert ring.read(ring.first_seq) == packets[20:]


def test_a_gop_past_its_byte_bound_keeps_its_decodable_head_until_the_next_keyframe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A camera that sends a keyframe every 25 s: one GOP of 250 frames at 10 fps.
    spec = SyntheticSpec(width=160, height=120, fps=10, gop_frames=250)
    packets = synthetic_packets(spec, 300)
    assert [i for i, p in enumerate(packets) if p.keyframe] == [0, 250]
    bound = sum(len(p.data) for p in packets[:60])
    ring = PacketRing(max_seconds=3600, max_bytes=4 * bound, max_gop_bytes=bound, name="till-1")
    codec = codec_for(spec, 1)

    accepted = [ring.append(p, codec) for p in packets[:250]]
    assert accepted == [True] * 60 + [False] * 190
    stats = ring.stats()
    dropped = packets[60:250]
    assert (stats.dropped_packets, stats.dropped_bytes) == (190, sum(len(p.data) for p in dropped))
    assert stats.truncated_at == packets[60].wall_time
    assert stats.buffered_bytes == bound and stats.newest_time == packets[59].wall_time
    assert "camera till-1: GOP started at" in caplog.text and "reached" in caplog.text
    # What is kept decodes: every frame of the head, from its keyframe.
    assert decoded_pts(ring.read(ring.first_seq), codec.extradata) == [p.pts for p in packets[:60]]

    # The next keyframe ends the cut; its GOP is whole again.
    assert all(ring.append(p, codec) for p in packets[250:])
    stats = ring.stats()
    assert stats.truncated_at is None and stats.dropped_packets == 190
    assert ring.read(ring.first_seq) == packets[:60] + packets[250:]
    assert (
        "camera till-1: keyframe at" in caplog.text and "after dropping 190 packets" in caplog.text
    )
    # A reader sees the cut as a gap in the timestamps: 6.0 s .. 25.0 s is missing.
    window = ring.window(ZERO, ZERO + 30)
    gap = max(b.wall_time - a.wall_time for a, b in itertools.pairwise(window))
    assert gap == pytest.approx(packets[250].wall_time - packets[59].wall_time)


def test_the_gop_bound_defaults_to_half_the_ring_so_max_bytes_is_a_hard_cap() -> None:
    # 5 s of 1 s GOPs, then a camera that stops sending keyframes (new timeline).
    before = synthetic_packets(SPEC, 50)
    runaway_spec = SyntheticSpec(width=160, height=120, fps=10, gop_frames=250)
    runaway = synthetic_packets(runaway_spec, 240, wall_zero=ZERO + 5.0, timeline_id=2)
    max_bytes = sum(len(p.data) for p in before) + sum(len(p.data) for p in runaway[:20])
    ring = PacketRing(max_seconds=3600, max_bytes=max_bytes)
    assert ring.max_gop_bytes == max_bytes // 2
    for p in before:
        ring.append(p, codec_for(SPEC, 1))
    for p in runaway:
        ring.append(p, codec_for(runaway_spec, 2))
        assert ring.stats().buffered_bytes <= max_bytes
    stats = ring.stats()
    assert stats.dropped_packets > 0 and stats.truncated_at is not None
    # The video before the runaway GOP keeps the other half of the ring.
    held = ring.read(ring.first_seq)
    assert held[0].timeline_id == 1 and held[0].keyframe
    assert sum(len(p.data) for p in held if p.timeline_id == 2) <= max_bytes // 2


def test_packets_before_the_first_keyframe_are_dropped() -> None:
    packets = synthetic_packets(SPEC, 30)
    ring = PacketRing(max_seconds=60, max_bytes=1 << 30)
    codec = codec_for(SPEC, 1)
    accepted = [ring.append(p, codec) for p in packets[5:]]
    assert accepted == [False] * 5 + [True] * 20
    assert ring.read(ring.first_seq)[0] is packets[10]


@pytest.mark.parametrize(
    ("start", "keyframe_at"),
    [
        (3.0, 3.0),  # exactly on a keyframe: that keyframe, not the one before
        (3.5, 3.0),  # between keyframes
        (3.999, 3.0),  # just before the next keyframe: never the later one
        (-20.0, 0.0),  # older than the ring: the oldest keyframe
        (50.0, 9.0),  # beyond the live edge: the newest keyframe
    ],
)
def test_window_starts_at_the_keyframe_at_or_before_start(start: float, keyframe_at: float) -> None:
    ring = filled(PacketRing(max_seconds=60, max_bytes=1 << 30), synthetic_packets(SPEC, 100))
    first = ring.read(ring.find_start(ZERO + start), limit=1)[0]
    assert first.keyframe
    assert first.wall_time == pytest.approx(ZERO + keyframe_at)
    window = ring.window(ZERO + start, ZERO + start + 0.5)
    assert window[0] is first


def test_window_ends_at_the_first_packet_at_or_after_end() -> None:
    packets = synthetic_packets(SPEC, 100)
    ring = filled(PacketRing(max_seconds=60, max_bytes=1 << 30), packets)
    window = ring.window(ZERO + 3.5, ZERO + 5.25)
    assert window == packets[30:54]  # 3.0 .. 5.3: 5.3 is the first at/after 5.25
    exact = ring.window(ZERO + 3.5, ZERO + 5.0)
    assert exact[-1].keyframe and exact[-1].wall_time == pytest.approx(ZERO + 5.0)
    live = ring.window(ZERO + 8.2, ZERO + 30.0)  # end not reached yet: up to the newest
    assert live == packets[80:]


def test_window_end_with_b_frames_keeps_every_frame_shown_before_end(street_bikes: Path) -> None:
    with closing(av.open(str(street_bikes))) as container:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base)
        packets = [
            BufferedPacket(
                bytes(p),
                p.pts,
                p.dts,
                p.duration,
                p.is_keyframe,
                ZERO + float(p.pts * time_base),
                1,
            )
            for p in container.demux(stream)
            if p.size
        ]
    assert any(p.pts != p.dts for p in packets), "the recording is expected to have B-frames"
    codec = codec_for(SPEC, 1).__class__(
        "h264", b"", 640, 272, time_base, Fraction(25), "yuv420p", 1
    )
    ring = PacketRing(max_seconds=60, max_bytes=1 << 30)
    for p in packets:
        ring.append(p, codec)
    start, end = ZERO + 2.0, ZERO + 4.3
    window = ring.window(start, end)
    keyframes = [p.wall_time for p in packets if p.keyframe]
    assert window[0].keyframe and window[0].wall_time == max(k for k in keyframes if k <= start)
    first_index = packets.index(window[0])
    shown_before_end = {p.pts for p in packets[first_index:] if p.wall_time < end}
    assert shown_before_end <= {p.pts for p in window}
    assert window[-1].decode_wall_time(time_base) >= end
    assert all(p.decode_wall_time(time_base) < end for p in window[:-1])


def test_timelines_keep_their_codec_and_start_on_a_keyframe() -> None:
    first = synthetic_packets(SPEC, 45, timeline_id=1)
    # A reconnect 0.3 s later: a new timeline, timestamps restarting at 0, its
    # first packets arriving mid-GOP.
    second = synthetic_packets(SPEC, 80, timeline_id=2, wall_zero=ZERO + 4.3)
    ring = filled(PacketRing(max_seconds=60, max_bytes=1 << 30), first + second[5:40])
    assert ring.read(ring.first_seq) == first + second[10:40]
    assert sorted(ring.timeline_codecs()) == [1, 2]
    assert ring.current_codec is not None and ring.current_codec.timeline_id == 2
    window = ring.window(ZERO + 3.0, ZERO + 6.0)
    boundary = next(i for i, p in enumerate(window) if p.timeline_id == 2)
    assert window[0].keyframe and window[boundary].keyframe
    assert window[boundary].wall_time == pytest.approx(ZERO + 5.3)
    # Once the whole first timeline is evicted its codec parameters go too.
    ring.max_seconds = 1.0
    filled(ring, second[40:])
    assert sorted(ring.timeline_codecs()) == [2]
    assert ring.read(ring.first_seq)[0].timeline_id == 2


def test_reading_evicted_packets_fails_with_a_clear_message() -> None:
    ring = filled(PacketRing(max_seconds=2, max_bytes=1 << 30), synthetic_packets(SPEC, 100))
    with pytest.raises(Exception, match="left the buffer"):
        ring.read(0)


def test_stats_measure_fps_and_bitrate_over_the_ring() -> None:
    packets = synthetic_packets(SPEC, 100)
    ring = filled(PacketRing(max_seconds=60, max_bytes=1 << 30), packets)
    stats = ring.stats()
    total = sum(len(p.data) for p in packets)
    assert stats.fps == pytest.approx(10.0)
    assert stats.bitrate_bps == pytest.approx(total * 8 / 10.0, rel=0.01)
    assert stats.buffered_bytes == total and stats.packet_count == 100


async def test_readers_waiting_for_the_live_edge_are_woken() -> None:
    packets = synthetic_packets(SPEC, 20)
    ring = filled(PacketRing(max_seconds=60, max_bytes=1 << 30), packets[:10])
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, ring.append, packets[10], codec_for(SPEC, 1))
    started = time.monotonic()
    await asyncio.wait_for(ring.wait_for(10), 2)
    assert 0.03 < time.monotonic() - started < 1.0
    assert ring.read(10) == [packets[10]]


def test_window_selection_is_fast_on_a_long_ring() -> None:
    # 10 minutes of 15 fps packets (content repeated, timestamps not): 9000 packets.
    spec = SyntheticSpec(width=160, height=120, fps=15, gop_frames=30)
    base = synthetic_packets(spec, 300)
    ring = PacketRing(max_seconds=3600, max_bytes=1 << 33)
    codec = codec_for(spec, 1)
    for loop in range(30):
        for p in base:
            shifted = BufferedPacket(
                p.data,
                p.pts + loop * 300,
                p.dts + loop * 300,
                p.duration,
                p.keyframe,
                p.wall_time + loop * 20.0,
                1,
            )
            ring.append(shifted, codec)
    timings = []
    for _ in range(50):
        t0 = time.perf_counter()
        ring.window(ZERO + 300.3, ZERO + 360.3)
        timings.append(time.perf_counter() - t0)
    assert len(ring.window(ZERO + 300.3, ZERO + 360.3)) == pytest.approx(60 * 15, abs=40)
    assert statistics.median(timings) < 1e-3
