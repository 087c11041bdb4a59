"""Stream copy of a buffered window into a browser-playable MP4 (no re-encoding).

Input is the buffer's wire format (``eventclip.v1.buffer_pb2``): one or more
segments, each a ``CodecParameters`` followed by its ``Packet``s in decode order,
exactly as ``BufferService.ReadWindow`` streams them, so the clip job and the
benchmarks go through one code path.

How the MP4 is made
-------------------
* Every packet becomes a fresh ``av.Packet`` over the proto's bytes (no copy)
  with an explicit ``time_base``: PyAV rescales a packet from its own time_base
  to the stream's when muxing, so a packet that still carried another context's
  time_base would be silently rescaled.
* Timestamps are rebased so the first keyframe is presented at 0. Without
  B-frames (what cameras send) its DTS equals its PTS, so the first DTS is 0.
  With B-frames the first DTS is minus the keyframe's composition offset; the
  MP4 muxer stores DTS from 0 and a one-entry edit list that skips the offset,
  as ``ffmpeg -c copy`` does (rebasing the DTS to 0 instead would make the
  muxer insert an empty edit, i.e. a blank lead-in of that offset). A packet without a duration gets the DTS step to its successor (the
  last one: the previous step, else 1 / frame rate), so the MP4 ends where the
  last frame does.
* The output stream is described from the ``CodecParameters`` alone (codec,
  extradata avcC/hvcC or Annex B SPS/PPS, width, height, time_base): the muxer
  never probes, and the codec context is never opened (nothing is encoded).
* ``movflags=+faststart`` puts ``moov`` before ``mdat`` so a browser can start
  playback before the whole file has arrived.
* The file is written under a temporary name in the target directory and moved
  into place with ``os.replace`` (see ``eventclip.clipper.storage.atomic_output``),
  so a reader never sees half a clip.

Where the clip starts
---------------------
The clip starts on the keyframe at or before the requested start ("snap back"),
never after it: a clip that starts late can miss the event. The alternative
MediaMTX uses is an MP4 edit list that hides the frames between that keyframe
and the exact start. We snap back instead because (a) the hidden frames stay in
the file anyway (same bytes, same SHA-256), (b) players disagree on edit lists
(several browsers and players ignore or mishandle them and show the hidden
frames or a frozen first picture), and (c) a few seconds of extra pre-roll are
harmless for evidence, whereas a player that skips frames is not. The real span
is reported (``media_start_time <= start_time``) so nobody is misled.

Segments
--------
The buffer starts a new segment (new ``codec`` message) after a reconnect or a
timestamp discontinuity; timestamps are only comparable within one segment.
Consecutive segments with the same codec, extradata and size are joined into
one track: each is rebased so its first DTS continues right after the previous
segment's last packet (DTS strictly increasing, never negative), which drops
the wall-clock gap from the playback timeline. Segments with different
parameters cannot share one H.264/HEVC track; then only the run of compatible
segments that contains the event time is kept, and ``RemuxResult.note`` says
what was left out.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av

from eventclip.clipper.storage import atomic_output
from eventclip.v1 import buffer_pb2

#: Options for the MP4 muxer (FFmpeg "mov" muxer).
MP4_OPTIONS = {"movflags": "+faststart"}


class RemuxError(Exception):
    """The window cannot be made into an MP4 (no packets, no keyframe, unknown
    codec or an FFmpeg failure); the message says which."""


@dataclass
class Segment:
    """Packets of one segment (continuous timestamps), in decode order."""

    codec: buffer_pb2.CodecParameters
    packets: list[buffer_pb2.Packet] = field(default_factory=list)

    @property
    def time_base(self) -> Fraction:
        return Fraction(self.codec.time_base_num or 1, self.codec.time_base_den or 1)

    def same_stream_as(self, other: Segment) -> bool:
        """True when both segments can share one MP4 track (codec, extradata, size)."""
        a, b = self.codec, other.codec
        return (a.codec_name, a.extradata, a.width, a.height) == (
            b.codec_name,
            b.extradata,
            b.width,
            b.height,
        )


@dataclass(frozen=True)
class RemuxResult:
    """What the MP4 really holds.

    ``media_start_time``: wall-clock time of the first frame (the keyframe at or
    before the requested start). ``media_end_time``: wall-clock time at which
    the last frame ends (its PTS plus its duration). ``duration_seconds``: the
    MP4's playback length (sum of frame durations; shorter than the wall-clock
    span when segments were joined over a gap). ``note``: empty, or why some of
    the window is not in the file.
    """

    media_start_time: datetime
    media_end_time: datetime
    duration_seconds: float
    frame_count: int
    size_bytes: int
    first_is_keyframe: bool
    codec_name: str
    width: int
    height: int
    segments_used: int
    note: str = ""


def segments_from_responses(
    responses: Iterable[buffer_pb2.ReadWindowResponse],
) -> list[Segment]:
    """Group a ReadWindow reply stream into segments: each ``codec`` message opens
    a segment, ``packets`` batches fill the current one. Raises RemuxError when
    packets arrive before any codec message (a broken stream)."""
    segments: list[Segment] = []
    for response in responses:
        if response.HasField("codec"):
            segments.append(Segment(response.codec))
        elif response.HasField("packets"):
            if not segments:
                raise RemuxError("ReadWindow sent packets before the codec parameters")
            segments[-1].packets.extend(response.packets.packets)
    return segments


def wall_seconds(packet: buffer_pb2.Packet) -> float:
    """A packet's wall-clock time as seconds since the Unix epoch."""
    ts = packet.wall_time
    return ts.seconds + ts.nanos * 1e-9


def select_segments(
    segments: Sequence[Segment], event_time: datetime | None
) -> tuple[list[Segment], str]:
    """The run of consecutive, mutually compatible, non-empty segments to mux.

    All of them when they share codec parameters; otherwise the run containing
    ``event_time`` (the one whose wall-clock span contains it, else the nearest;
    the first run when ``event_time`` is None). Returns (segments, note) where
    the note explains any segment left out.
    """
    usable = [s for s in segments if s.packets]
    if not usable:
        return [], ""
    runs: list[list[Segment]] = [[usable[0]]]
    for segment in usable[1:]:
        if segment.same_stream_as(runs[-1][-1]):
            runs[-1].append(segment)
        else:
            runs.append([segment])
    if len(runs) == 1:
        return runs[0], ""

    def distance(run: list[Segment]) -> float:
        if event_time is None:
            return 0.0
        t = event_time.timestamp()
        first, last = wall_seconds(run[0].packets[0]), wall_seconds(run[-1].packets[-1])
        return 0.0 if first <= t <= last else min(abs(t - first), abs(t - last))

    chosen = min(runs, key=distance)  # min() keeps the earliest run on ties
    left_out = sum(len(r) for r in runs if r is not chosen)
    c = chosen[0].codec
    note = (
        f"codec parameters changed inside the window; kept the {len(chosen)} segment(s) "
        f"around the event ({c.codec_name} {c.width}x{c.height}), left out {left_out} "
        f"segment(s) with different parameters"
    )
    return chosen, note


def _start_index(packets: Sequence[buffer_pb2.Packet], start: float | None) -> int:
    """Index of the last keyframe at or before ``start`` (epoch seconds); the
    first keyframe when none is that early or ``start`` is None; -1 when there
    is no keyframe at all."""
    chosen = -1
    for i, packet in enumerate(packets):
        if not packet.keyframe:
            continue
        if chosen == -1:
            chosen = i
            if start is None:
                break
        elif wall_seconds(packet) <= start:
            chosen = i
        else:
            break
    return chosen


def _default_step(segment: Segment) -> int:
    """One frame in the segment's time_base (from the nominal frame rate), >= 1."""
    c = segment.codec
    if c.frame_rate_num > 0 and c.frame_rate_den > 0:
        frame = Fraction(c.frame_rate_den, c.frame_rate_num) / segment.time_base
        return max(1, round(frame))
    return 1


def _mux_segment(
    output: av.container.OutputContainer,
    stream: av.video.stream.VideoStream,
    segment: Segment,
    first: int,
    offset: int,
) -> tuple[int, int, float]:
    """Mux ``segment.packets[first:]`` shifted by ``offset`` (segment time_base
    units). Returns (end of the last DTS, end of the latest PTS) in time_base
    units after the shift, and the wall-clock end (epoch seconds)."""
    tb = segment.time_base
    tb_seconds = float(tb)
    packets = segment.packets
    step = _default_step(segment)
    last = len(packets) - 1
    dts_end = pts_end = -(2**62)
    wall_end = 0.0
    # Plain ints and floats in this loop: it runs once per frame (900 for a 60 s
    # clip at 15 fps) and Fraction arithmetic here would cost more than muxing.
    for i in range(first, last + 1):
        p = packets[i]
        duration = p.duration
        if duration <= 0:
            if i < last:
                duration = max(packets[i + 1].dts - p.dts, 1)
            else:
                duration = step if i == first else max(p.dts - packets[i - 1].dts, 1)
        out = av.Packet(p.data)
        out.time_base = tb
        out.dts = dts = p.dts + offset
        out.pts = pts = p.pts + offset
        out.duration = duration
        out.is_keyframe = p.keyframe
        out.stream = stream
        output.mux_one(out)
        dts_end = max(dts_end, dts + duration)
        pts_end = max(pts_end, pts + duration)
        wall_end = max(wall_end, wall_seconds(p) + duration * tb_seconds)
    return dts_end, pts_end, wall_end


def remux_to_mp4(
    segments: Sequence[Segment],
    path: str | os.PathLike[str],
    *,
    start_time: datetime | None = None,
    event_time: datetime | None = None,
) -> RemuxResult:
    """Write ``segments`` as an MP4 at ``path`` by stream copy (atomically).

    ``start_time``: the requested clip start; the MP4 starts on the last keyframe
    at or before it (the first keyframe when none is that early, None: the first
    keyframe). Packets before that keyframe are dropped; everything after it is
    kept (the buffer already ends the window at ``end_time``). ``event_time``
    picks the segment to keep when the codec parameters change in the window.

    Returns a RemuxResult. Raises RemuxError when there is nothing decodable to
    write or FFmpeg fails (no file is left behind).
    """
    chosen, note = select_segments(segments, event_time)
    if not chosen:
        raise RemuxError("the window holds no packets")
    start = start_time.timestamp() if start_time is not None else None

    # (segment, first packet index) for every segment that has a keyframe.
    parts: list[tuple[Segment, int]] = []
    for n, segment in enumerate(chosen):
        first = _start_index(segment.packets, start if n == 0 else None)
        if first >= 0:
            parts.append((segment, first))
    if not parts:
        raise RemuxError("the window holds no keyframe, nothing can be decoded")

    codec = parts[0][0].codec
    out_tb = parts[0][0].time_base
    frame_count = 0
    media_start = wall_seconds(parts[0][0].packets[parts[0][1]])
    media_end = media_start
    next_dts = Fraction(0)  # where the next segment continues, in seconds
    end_pts = Fraction(0)  # when the last frame ends on the MP4 timeline, seconds
    target = Path(path)
    try:
        with (
            atomic_output(target) as tmp,
            av.open(io.BytesIO(), "w", format="mp4") as template_holder,
            av.open(str(tmp), "w", format="mp4", options=MP4_OPTIONS) as output,
        ):
            # A never-opened codec context only names the codec; the muxer reads the
            # stream's parameters (set below) from it when it writes the header.
            template = template_holder.add_stream(codec.codec_name)
            stream = output.add_stream_from_template(template, opaque=True)
            ctx = stream.codec_context
            ctx.extradata = codec.extradata or None
            ctx.width, ctx.height = codec.width, codec.height
            ctx.time_base = out_tb
            stream.time_base = out_tb

            for segment, first in parts:
                tb = segment.time_base
                if segment is parts[0][0]:
                    offset = -segment.packets[first].pts  # the first keyframe is shown at 0
                else:
                    # Continue right after the previous segment: DTS never overlap.
                    offset = math.ceil(next_dts / tb) - segment.packets[first].dts
                dts_end, pts_end, wall_end = _mux_segment(output, stream, segment, first, offset)
                frame_count += len(segment.packets) - first
                next_dts = max(next_dts, dts_end * tb)
                end_pts = max(end_pts, pts_end * tb)
                media_end = max(media_end, wall_end)
    except av.FFmpegError as err:
        raise RemuxError(f"FFmpeg could not write the MP4: {err}") from err
    except ValueError as err:  # PyAV: unknown codec or one MP4 cannot hold
        raise RemuxError(f"cannot mux {codec.codec_name!r} into MP4: {err}") from err

    return RemuxResult(
        media_start_time=datetime.fromtimestamp(media_start, UTC),
        media_end_time=datetime.fromtimestamp(media_end, UTC),
        duration_seconds=float(end_pts),
        frame_count=frame_count,
        size_bytes=target.stat().st_size,
        first_is_keyframe=parts[0][0].packets[parts[0][1]].keyframe,
        codec_name=codec.codec_name,
        width=codec.width,
        height=codec.height,
        segments_used=len(parts),
        note=note,
    )
