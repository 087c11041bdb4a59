"""What part of a clip's requested window its media really holds.

A clip is evidence, so its record must never claim more than its MP4 holds.
Coverage is measured on the packets that went into the MP4 (the timelines
``select_timelines`` keeps, from the first frame the writer chose), on the wall
clock:

* Each frame is shown from its PTS (as wall time) until the next frame's; the
  last one for one frame duration.
* A *gap* is a stretch of the requested window [start, end] where no frame is
  shown for longer than ``GAP_FRAMES`` frame durations: before the first frame
  (a pre-roll longer than what was buffered), between two frames (a camera
  that dropped out, a reconnect, packets the buffer had to drop) and after the
  last one (a camera offline during the post-roll, a stop).
* The clip is *complete* when no gap is longer than one GOP (the longest
  keyframe interval seen; a start snapped back to a keyframe is never a gap,
  and the end may stop within one frame duration).
* The event is *covered* when ``event_time`` falls on a shown frame, not in a
  gap. A clip whose media does not cover its event cannot be READY.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from eventclip.media.timelines import Timeline, select_timelines, wall_seconds

#: Missing frames tolerated before a hole is listed as a gap.
GAP_FRAMES = 2.0
#: GOP assumed when the media holds a single keyframe, seconds.
DEFAULT_GOP_SECONDS = 1.0
#: Frame duration assumed when neither the frame rate nor two frames tell it, seconds.
DEFAULT_FRAME_SECONDS = 1 / 15


@dataclass(frozen=True)
class Gap:
    """A stretch of the window with no video; times in seconds since the epoch."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def as_row(self) -> dict[str, float]:
        """The ``clips.gaps`` JSON form: {"start": epoch s, "end": epoch s}."""
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class Coverage:
    """The result of ``measure_coverage``.

    ``gaps``: oldest first, inside [start, end]. ``gop_seconds``: the longest
    keyframe interval seen (the tolerance for ``complete``).
    ``media_start``/``media_end``: first frame shown, end of the last one
    (epoch seconds; None when the media holds no frame).
    """

    complete: bool
    gaps: tuple[Gap, ...]
    event_covered: bool
    gop_seconds: float
    media_start: float | None
    media_end: float | None

    @property
    def missing_seconds(self) -> float:
        return sum(g.seconds for g in self.gaps)

    def describe(self) -> str:
        """One line for a person: what is missing, in UTC."""
        if not self.gaps:
            return "the media covers the whole window"
        parts = ", ".join(f"{_clock(g.start)}–{_clock(g.end)}" for g in self.gaps)
        return (
            f"{self.missing_seconds:.1f} s of the window is not on video "
            f"({len(self.gaps)} gap{'s' if len(self.gaps) != 1 else ''}: {parts} UTC)"
        )


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S.%f")[:-5]


def frame_seconds(timeline: Timeline) -> float:
    """One frame's duration: the nominal frame rate, else the median PTS step
    of the timeline's packets, else DEFAULT_FRAME_SECONDS."""
    codec = timeline.codec
    if codec.frame_rate_num > 0 and codec.frame_rate_den > 0:
        return codec.frame_rate_den / codec.frame_rate_num
    times = sorted(wall_seconds(p) for p in timeline.packets)
    steps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    return steps[len(steps) // 2] if steps else DEFAULT_FRAME_SECONDS


def measure_coverage(
    timelines: Sequence[Timeline],
    *,
    start: datetime,
    end: datetime,
    event: datetime,
    media_start: datetime | None = None,
) -> Coverage:
    """Coverage of [start, end] by the frames of ``timelines`` that an MP4 made
    from them holds: the timelines ``select_timelines(timelines, event)``
    keeps, from ``media_start`` (the first frame the writer chose; None: from
    each timeline's first frame). Times are UTC datetimes."""
    window_start, window_end, event_at = start.timestamp(), end.timestamp(), event.timestamp()
    chosen, _note = select_timelines(timelines, event)
    # Datetimes hold microseconds: a frame exactly at media_start may compare a hair early.
    first = media_start.timestamp() - 1e-3 if media_start is not None else None
    # (shown from, shown until at the latest, frame seconds) per frame, in wall order.
    frames: list[tuple[float, float]] = []
    gop = 0.0
    for timeline in chosen:
        step = frame_seconds(timeline)
        times = sorted(
            wall_seconds(p) for p in timeline.packets if first is None or wall_seconds(p) >= first
        )
        keys = sorted(
            wall_seconds(p)
            for p in timeline.packets
            if p.keyframe and (first is None or wall_seconds(p) >= first)
        )
        gop = max([gop, *(b - a for a, b in itertools.pairwise(keys))])
        frames.extend((t, step) for t in times)
    frames.sort()
    gop = gop or DEFAULT_GOP_SECONDS
    if not frames:
        whole = Gap(window_start, window_end)
        return Coverage(False, (whole,), False, gop, None, None)

    # Shown intervals, merging frames that follow within GAP_FRAMES frame durations.
    shown: list[list[float]] = []
    for t, step in frames:
        if shown and t - shown[-1][1] <= (GAP_FRAMES - 1) * step:
            shown[-1][1] = max(shown[-1][1], t + step)
        else:
            shown.append([t, t + step])
    tolerance = GAP_FRAMES * frames[0][1]
    gaps: list[Gap] = []
    cursor = window_start
    for begin, until in shown:
        if begin - cursor > tolerance and begin > window_start:
            gaps.append(Gap(max(cursor, window_start), min(begin, window_end)))
        cursor = max(cursor, until)
    if window_end - cursor > tolerance:
        gaps.append(Gap(max(cursor, window_start), window_end))
    gaps = [g for g in gaps if g.end > g.start]
    covered = any(begin <= event_at <= until for begin, until in shown) or (
        shown[0][0] <= event_at <= shown[-1][1]
        and not any(g.start < event_at < g.end for g in gaps)
    )
    complete = all(g.seconds <= gop for g in gaps)
    return Coverage(complete, tuple(gaps), covered, gop, shown[0][0], shown[-1][1])
