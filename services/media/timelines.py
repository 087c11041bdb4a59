"""A ReadWindow reply stream grouped into timelines, and the choice of which
timelines one MP4 track can hold.

The buffer starts a new timeline (new ``codec`` message) after a reconnect or a
timestamp discontinuity; timestamps are only comparable within one timeline.
Consecutive timelines with the same codec, extradata and size are joined into
one track: each is rebased so its first DTS continues right after the previous
timeline's last packet (DTS strictly increasing, never negative), which drops
the wall-clock gap from the playback timeline. Timelines with different
parameters cannot share one H.264/HEVC track; then only the run of compatible
timelines that contains the event time is kept, and ``RemuxResult.note`` says
what was left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from eventclip.v1 import buffer_pb2

if TYPE_CHECKING:
    from eventclip.buffer.ring import BufferedPacket


class StreamError(ValueError):
    """The reply stream is malformed (packets before any codec parameters)."""


@dataclass
class Timeline:
    """Packets of one timeline (continuous timestamps), in decode order: wire
    ``Packet``s, or the ring's ``BufferedPacket``s when the buffer cuts."""

    codec: buffer_pb2.CodecParameters
    packets: list[buffer_pb2.Packet] = field(default_factory=list)

    @property
    def time_base(self) -> Fraction:
        return Fraction(self.codec.time_base_num or 1, self.codec.time_base_den or 1)

    def same_stream_as(self, other: Timeline) -> bool:
        """True when both timelines can share one MP4 track (codec, extradata, size)."""
        a, b = self.codec, other.codec
        return (a.codec_name, a.extradata, a.width, a.height) == (
            b.codec_name,
            b.extradata,
            b.width,
            b.height,
        )


class TimelineCollector:
    """Groups ReadWindow replies into timelines as they arrive: each ``codec``
    message opens a timeline, ``packets`` batches fill the current one."""

    def __init__(self) -> None:
        self.timelines: list[Timeline] = []

    def add(self, response: buffer_pb2.ReadWindowResponse) -> list[buffer_pb2.Packet] | None:
        """Take one reply. Returns the packets it added, or None when it opened
        a timeline (its codec parameters are ``self.timelines[-1].codec``).
        Raises StreamError when packets arrive before any codec message."""
        if response.HasField("codec"):
            self.timelines.append(Timeline(response.codec))
            return None
        if not self.timelines:
            raise StreamError("ReadWindow sent packets before the codec parameters")
        packets = response.packets.packets
        self.timelines[-1].packets.extend(packets)
        return list(packets)


def timelines_from_responses(
    responses: Iterable[buffer_pb2.ReadWindowResponse],
) -> list[Timeline]:
    """Group a whole ReadWindow reply stream into timelines (see
    TimelineCollector). Raises StreamError for a broken stream."""
    collector = TimelineCollector()
    for response in responses:
        collector.add(response)
    return collector.timelines


def wall_seconds(packet: buffer_pb2.Packet | BufferedPacket) -> float:
    """A packet's wall-clock time as seconds since the Unix epoch.

    A ring's ``BufferedPacket`` (a float) gives the value its wire ``Packet``
    would (whole nanoseconds, as ``eventclip.buffer.wire`` encodes it), so a
    window cut in the buffer chooses the same frames as one cut from ReadWindow.
    """
    ts = packet.wall_time
    if isinstance(ts, float):
        seconds, nanos = divmod(round(ts * 1e9), 1_000_000_000)
        return seconds + nanos * 1e-9
    return ts.seconds + ts.nanos * 1e-9


def nearest_keyframe(
    timelines: Sequence[Timeline], event_time: datetime
) -> tuple[Timeline, buffer_pb2.Packet] | None:
    """The keyframe whose wall-clock time is nearest ``event_time`` (the earlier
    one on a tie) and its timeline; None when there is none."""
    target = event_time.timestamp()
    best: tuple[float, Timeline, buffer_pb2.Packet] | None = None
    for timeline in timelines:
        for packet in timeline.packets:
            if packet.keyframe:
                distance = abs(wall_seconds(packet) - target)
                if best is None or distance < best[0]:
                    best = (distance, timeline, packet)
    return None if best is None else (best[1], best[2])


def select_timelines(
    timelines: Sequence[Timeline], event_time: datetime | None
) -> tuple[list[Timeline], str]:
    """The run of consecutive, mutually compatible, non-empty timelines to mux.

    All of them when they share codec parameters; otherwise the run containing
    ``event_time`` (the one whose wall-clock span contains it, else the nearest;
    the first run when ``event_time`` is None). Returns (timelines, note) where
    the note explains any timeline left out.
    """
    usable = [s for s in timelines if s.packets]
    if not usable:
        return [], ""
    runs: list[list[Timeline]] = [[usable[0]]]
    for timeline in usable[1:]:
        if timeline.same_stream_as(runs[-1][-1]):
            runs[-1].append(timeline)
        else:
            runs.append([timeline])
    if len(runs) == 1:
        return runs[0], ""

    def distance(run: list[Timeline]) -> float:
        if event_time is None:
            return 0.0
        t = event_time.timestamp()
        first, last = wall_seconds(run[0].packets[0]), wall_seconds(run[-1].packets[-1])
        return 0.0 if first <= t <= last else min(abs(t - first), abs(t - last))

    chosen = min(runs, key=distance)  # min() keeps the earliest run on ties
    left_out = sum(len(r) for r in runs if r is not chosen)
    c = chosen[0].codec
    note = (
        f"codec parameters changed inside the window; kept the {len(chosen)} timeline(s) "
        f"around the event ({c.codec_name} {c.width}x{c.height}), left out {left_out} "
        f"timeline(s) with different parameters"
    )
    return chosen, note
