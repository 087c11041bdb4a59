"""Coverage of a requested window by real H.264 packets: gaps, completeness,
whether the event is on video; on libx264 footage and the street recording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.coverage import measure_coverage
from eventclip.media.timelines import Timeline, wall_seconds

from .media import recording_timeline, synthetic_timeline

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FPS = 15
FRAME = 1 / FPS


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def footage() -> Timeline:
    """20 s, a keyframe a second, first frame at T0."""
    return synthetic_timeline(SyntheticSpec(width=160, height=96, fps=FPS, gop_frames=15), 300, T0)


def part(timeline: Timeline, first: float, last: float) -> Timeline:
    """The packets shown from ``first`` to before ``last`` seconds after T0."""
    t0 = T0.timestamp()
    return Timeline(
        timeline.codec,
        [p for p in timeline.packets if first <= wall_seconds(p) - t0 < last],
    )


def test_a_whole_window_is_complete(footage: Timeline) -> None:
    coverage = measure_coverage([footage], start=at(2), end=at(10), event=at(5), media_start=at(2))
    assert coverage.complete and coverage.event_covered
    assert coverage.gaps == ()
    assert coverage.gop_seconds == pytest.approx(1.0)
    assert coverage.describe() == "the media covers the whole window"


def test_a_short_start_and_end_are_gaps(footage: Timeline) -> None:
    held = part(footage, 4, 8)  # asked 2 .. 10
    coverage = measure_coverage([held], start=at(2), end=at(10), event=at(5), media_start=at(4))
    assert not coverage.complete and coverage.event_covered
    assert [(g.start - T0.timestamp(), g.end - T0.timestamp()) for g in coverage.gaps] == [
        pytest.approx((2, 4), abs=1e-6),
        pytest.approx((8, 10), abs=1e-6),
    ]
    assert coverage.missing_seconds == pytest.approx(4.0)
    assert coverage.describe().startswith("4.0 s of the window is not on video (2 gaps: 12:00:02.0")


def test_a_hole_in_the_middle_misses_an_event_inside_it(footage: Timeline) -> None:
    before, after = part(footage, 0, 4), part(footage, 7, 20)
    coverage = measure_coverage(
        [before, after], start=at(2), end=at(10), event=at(5), media_start=at(2)
    )
    [gap] = coverage.gaps
    assert (gap.start - T0.timestamp(), gap.end - T0.timestamp()) == pytest.approx((4, 7))
    assert not coverage.complete and not coverage.event_covered
    # The same hole with the event before it: the event is on video.
    assert measure_coverage(
        [before, after], start=at(2), end=at(10), event=at(3), media_start=at(2)
    ).event_covered


def test_holes_up_to_a_gop_keep_a_clip_complete(footage: Timeline) -> None:
    # 0.6 s missing (9 frames) with one keyframe a second: listed, but complete.
    before, after = part(footage, 0, 5), part(footage, 5.55, 20)  # frames from 5.6 s
    coverage = measure_coverage(
        [before, after], start=at(2), end=at(10), event=at(8), media_start=at(2)
    )
    [gap] = coverage.gaps
    assert gap.seconds == pytest.approx(0.6, abs=1e-6)
    assert coverage.complete and coverage.event_covered


def test_a_dropped_frame_is_not_a_gap(footage: Timeline) -> None:
    packets = [p for i, p in enumerate(footage.packets) if i != 40]  # one P-frame
    coverage = measure_coverage(
        [Timeline(footage.codec, packets)], start=at(0), end=at(10), event=at(2.67)
    )
    assert coverage.gaps == () and coverage.complete and coverage.event_covered


def test_nothing_recorded_is_one_gap(footage: Timeline) -> None:
    coverage = measure_coverage([Timeline(footage.codec)], start=at(2), end=at(10), event=at(5))
    assert not coverage.complete and not coverage.event_covered
    [gap] = coverage.gaps
    assert gap.seconds == pytest.approx(8.0)


def test_the_street_recording_with_its_long_gops_is_complete(street_bikes: Path) -> None:
    timeline = recording_timeline(street_bikes, T0)
    coverage = measure_coverage([timeline], start=at(1.2), end=at(9), event=at(4))
    assert coverage.gaps == () and coverage.complete and coverage.event_covered
    # Its longest keyframe interval (2.44 s, between 3.04 and 5.48 s) is the tolerance.
    assert coverage.gop_seconds == pytest.approx(2.44, abs=0.05)
