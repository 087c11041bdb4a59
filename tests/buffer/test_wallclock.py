"""WallClock with plain numbers: anchoring (RTCP or arrival) and discontinuities."""

from __future__ import annotations

from fractions import Fraction

import pytest

from eventclip.buffer.wallclock import WallClock

TB = Fraction(1, 90_000)  # RTSP's 90 kHz clock
SECOND = 90_000
T0 = 1_700_000_000.0


def test_anchors_on_the_arrival_of_the_first_packet() -> None:
    clock = WallClock(TB)
    first = clock.stamp(pts=5000, dts=5000, arrival=T0)
    assert first.new_timeline and first.wall_time == T0
    later = clock.stamp(pts=5000 + 3 * SECOND, dts=5000 + 3 * SECOND, arrival=T0 + 3.2)
    assert not later.new_timeline
    assert later.timeline_id == first.timeline_id
    assert later.wall_time == pytest.approx(T0 + 3.0)  # from pts, not from arrival jitter
    assert clock.anchor_source == "arrival"


def test_anchors_on_the_rtcp_sender_report_when_it_agrees_with_arrival() -> None:
    clock = WallClock(TB, realtime_start=T0 - 0.5)
    stamp = clock.stamp(pts=SECOND // 2, dts=SECOND // 2, arrival=T0 + 0.1)
    assert clock.anchor_source == "rtcp"
    assert stamp.wall_time == pytest.approx(T0)  # realtime_start + pts x time_base


def test_ignores_an_rtcp_time_from_a_camera_with_a_wrong_clock() -> None:
    clock = WallClock(TB, realtime_start=T0 - 3600)
    stamp = clock.stamp(pts=0, dts=0, arrival=T0)
    assert clock.anchor_source == "arrival"
    assert stamp.wall_time == T0


def test_dts_going_backwards_starts_a_new_timeline_anchored_on_arrival() -> None:
    clock = WallClock(TB)
    a = clock.stamp(pts=10 * SECOND, dts=10 * SECOND, arrival=T0)
    b = clock.stamp(pts=11 * SECOND, dts=11 * SECOND, arrival=T0 + 1)
    c = clock.stamp(pts=0, dts=0, arrival=T0 + 2)  # the camera restarted its clock
    assert a.timeline_id == b.timeline_id != c.timeline_id
    assert c.new_timeline and c.wall_time == T0 + 2
    assert "backwards" in (clock.last_discontinuity or "")
    d = clock.stamp(pts=SECOND, dts=SECOND, arrival=T0 + 3)
    assert d.timeline_id == c.timeline_id and d.wall_time == pytest.approx(T0 + 3)


def test_a_forward_jump_of_more_than_max_jump_starts_a_new_timeline() -> None:
    clock = WallClock(TB, max_jump=5.0)
    a = clock.stamp(pts=0, dts=0, arrival=T0)
    small = clock.stamp(pts=4 * SECOND, dts=4 * SECOND, arrival=T0 + 4)
    big = clock.stamp(pts=100 * SECOND, dts=100 * SECOND, arrival=T0 + 4.04)
    assert small.timeline_id == a.timeline_id
    assert big.new_timeline and big.timeline_id != a.timeline_id
    assert big.wall_time == T0 + 4.04
    assert "jumped" in (clock.last_discontinuity or "")


def test_drift_ahead_of_arrival_starts_a_new_timeline() -> None:
    # Timestamps advance 1 s per packet while packets arrive 0.25 s apart: the
    # mapped time runs ahead of arrival; past max_ahead that is a clock jump.
    clock = WallClock(TB, max_ahead=2.0)
    stamps = [clock.stamp(i * SECOND, i * SECOND, T0 + i * 0.25) for i in range(5)]
    timelines = [s.timeline_id for s in stamps]
    assert timelines[:3] == [timelines[0]] * 3  # drift 0, 0.75, 1.5 s
    assert stamps[3].new_timeline  # drift 2.25 s
    assert "drifted" in (clock.last_discontinuity or "")


def test_lag_behind_arrival_within_bounds_keeps_the_timeline() -> None:
    clock = WallClock(TB, max_behind=10.0)
    a = clock.stamp(0, 0, T0)
    late = clock.stamp(SECOND, SECOND, T0 + 8.0)  # a 7 s network stall
    assert late.timeline_id == a.timeline_id
    assert late.wall_time == pytest.approx(T0 + 1.0)
    stalled = clock.stamp(2 * SECOND, 2 * SECOND, T0 + 13.0)  # 11 s behind
    assert stalled.new_timeline and stalled.wall_time == T0 + 13.0


def test_equal_dts_and_arrival_jitter_are_not_discontinuities() -> None:
    clock = WallClock(Fraction(1, 25))
    jitter = [0.0, 0.3, -0.2, 0.1, 0.25, -0.1]
    stamps = [clock.stamp(i, i, T0 + i / 25 + jitter[i % 6]) for i in range(100)]
    stamps.append(clock.stamp(99, 99, T0 + 4.0))  # same dts twice (e.g. SEI + slice)
    assert len({s.timeline_id for s in stamps}) == 1
    assert sum(s.new_timeline for s in stamps) == 1


def test_timeline_ids_are_unique_across_clocks() -> None:
    ids = [WallClock(TB).stamp(0, 0, T0).timeline_id for _ in range(50)]
    assert len(set(ids)) == 50
