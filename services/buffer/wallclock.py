"""Mapping packet timestamps to wall-clock time (UTC), timeline by timeline.

A timeline is a run of packets whose timestamps are continuous; within it

    wall = anchor_wall + (pts - anchor_pts) x time_base

The anchor is the RTCP sender report where the source has one (FFmpeg's
``AVFormatContext.start_time_realtime``, exposed by PyAV as
``InputContainer.start_time_realtime``: microseconds since the epoch of the
stream's first timestamp), else the arrival time of the timeline's first packet.

A discontinuity (DTS going backwards, DTS jumping forward more than
``max_jump`` seconds, or the mapped time drifting from the arrival time beyond
``max_ahead``/``max_behind`` seconds) starts a new timeline with a new id and a
fresh arrival anchor, instead of splicing two timelines together.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from fractions import Fraction

log = logging.getLogger(__name__)

#: Timeline ids start at the process start in milliseconds since the epoch, so
#: ids from a restarted buffer do not repeat the previous run's.
_timeline_ids = itertools.count(time.time_ns() // 1_000_000)


def new_timeline_id() -> int:
    """A process-wide unique timeline id (int64)."""
    return next(_timeline_ids)


@dataclass(frozen=True, slots=True)
class Stamp:
    """Result of mapping one packet: its wall time (seconds since the epoch, of
    its pts), its timeline, and whether this packet opened that timeline."""

    wall_time: float
    timeline_id: int
    new_timeline: bool


class WallClock:
    """Stamps the packets of one connection with UTC times and timeline ids.

    ``time_base``: seconds per pts/dts unit. ``realtime_start``: the RTCP
    anchor, seconds since the epoch of pts 0, or None. It is used only when it
    agrees with the first packet's arrival within the drift bounds (a camera
    with a wrong clock would otherwise misplace every clip).
    ``max_ahead``: how far (s) a mapped time may run ahead of arrival (a packet
    cannot arrive before it was captured, so more means a clock jump);
    ``max_behind``: how far it may lag (network latency, HLS segment delay).
    """

    def __init__(
        self,
        time_base: Fraction,
        *,
        realtime_start: float | None = None,
        max_jump: float = 5.0,
        max_ahead: float = 2.0,
        max_behind: float = 10.0,
    ) -> None:
        self.time_base = time_base
        self.realtime_start = realtime_start
        self.max_jump = max_jump
        self.max_ahead = max_ahead
        self.max_behind = max_behind
        self.timeline_id: int | None = None
        #: "rtcp" or "arrival" once anchored.
        self.anchor_source: str | None = None
        #: Why the last timeline after the first began (for status and logs).
        self.last_discontinuity: str | None = None
        self._anchor_wall = 0.0
        self._anchor_pts = 0
        self._last_dts: int | None = None

    def wall_time(self, pts: int) -> float:
        """UTC seconds of ``pts`` in the current timeline."""
        return self._anchor_wall + float((pts - self._anchor_pts) * self.time_base)

    def stamp(self, pts: int, dts: int, arrival: float) -> Stamp:
        """Map one packet (decode order). ``arrival``: time.time() when it was
        read. Starts a new timeline on the first packet and on a discontinuity."""
        reason = self._discontinuity(pts, dts, arrival) if self.timeline_id is not None else None
        new = self.timeline_id is None or reason is not None
        if new:
            if reason:
                self.last_discontinuity = reason
                log.info("timestamp discontinuity (%s): new timeline", reason)
            self._anchor(pts, arrival, allow_rtcp=self.timeline_id is None)
        self._last_dts = dts
        assert self.timeline_id is not None
        return Stamp(self.wall_time(pts), self.timeline_id, new)

    def _discontinuity(self, pts: int, dts: int, arrival: float) -> str | None:
        last = self._last_dts
        if last is not None:
            if dts < last:
                return f"dts went backwards from {last} to {dts}"
            step = float((dts - last) * self.time_base)
            if step > self.max_jump:
                return f"dts jumped {step:.1f} s"
        drift = self.wall_time(pts) - arrival
        if drift > self.max_ahead or -drift > self.max_behind:
            return f"wall clock drifted {drift:+.1f} s from arrival time"
        return None

    def _anchor(self, pts: int, arrival: float, *, allow_rtcp: bool) -> None:
        self.timeline_id = new_timeline_id()
        if allow_rtcp and self.realtime_start is not None:
            mapped = self.realtime_start + float(pts * self.time_base)
            if -self.max_behind <= mapped - arrival <= self.max_ahead:
                self._anchor_wall, self._anchor_pts = self.realtime_start, 0
                self.anchor_source = "rtcp"
                return
            log.warning(
                "RTCP sender report time is %.1f s off the arrival time; anchoring on arrival",
                mapped - arrival,
            )
        self._anchor_wall, self._anchor_pts = arrival, pts
        self.anchor_source = "arrival"
