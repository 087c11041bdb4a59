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

import contextlib
import io
import math
import os
from collections.abc import Iterable, Iterator, Sequence
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


class IncompatibleSegment(RemuxError):
    """A segment whose codec parameters differ from the track's first segment."""


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


def _default_step(codec: buffer_pb2.CodecParameters, time_base: Fraction) -> int:
    """One frame in ``time_base`` units (from the nominal frame rate), >= 1."""
    if codec.frame_rate_num > 0 and codec.frame_rate_den > 0:
        frame = Fraction(codec.frame_rate_den, codec.frame_rate_num) / time_base
        return max(1, round(frame))
    return 1


class Mp4Writer:
    """One MP4 track written by stream copy, a batch of packets at a time.

    Feed segments in order: ``open_segment(codec)`` then ``add_packets(...)`` in
    decode order; ``close()`` writes the trailer, moves the file into place and
    returns the RemuxResult; ``abort()`` leaves nothing behind. Every segment
    must be able to share the track with the first (``Segment.same_stream_as``;
    IncompatibleSegment otherwise: choose segments with ``select_segments``).

    The first segment starts on its last keyframe at or before ``start`` (epoch
    seconds; its first keyframe when none is that early, or when ``start`` is
    None). Until a keyframe after ``start`` shows that choice is final, packets
    are held; after that each batch is muxed as it comes, so a live clip is
    nearly written by the time its post-roll is buffered. A segment that holds
    no keyframe is skipped; later segments start on their first keyframe.
    The last packet of each batch waits for its successor, whose DTS gives its
    duration when the packet has none.
    """

    def __init__(self, path: str | os.PathLike[str], start: float | None) -> None:
        self._target = Path(path)
        self._start = start
        self._stack = contextlib.ExitStack()
        self._output: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._first_codec: buffer_pb2.CodecParameters | None = None
        self._codec: buffer_pb2.CodecParameters | None = None
        self._tb = Fraction(1)
        self._tb_seconds = 1.0
        self._step = 1
        self._pending: list[buffer_pb2.Packet] = []
        self._started = False  # the current segment's first packet is chosen
        self._offset = 0
        self._prev_dts: int | None = None  # last muxed DTS of this segment (source units)
        self._segments = 0
        self._frames = 0
        self._first_keyframe = False
        self._media_start = 0.0
        self._media_end = 0.0
        self._next_dts = Fraction(0)  # where the next segment continues, seconds
        self._end_pts = Fraction(0)  # when the last frame ends on the MP4 timeline, seconds

    def open_segment(self, codec: buffer_pb2.CodecParameters) -> None:
        """Start a segment. Raises IncompatibleSegment when it cannot share the
        track with the first one."""
        self._end_segment()
        if self._first_codec is not None and not Segment(codec).same_stream_as(
            Segment(self._first_codec)
        ):
            raise IncompatibleSegment(
                f"segment {codec.segment_id} ({codec.codec_name} {codec.width}x{codec.height}) "
                f"cannot join the track of segment {self._first_codec.segment_id}"
            )
        self._codec = codec
        self._tb = Fraction(codec.time_base_num or 1, codec.time_base_den or 1)
        self._tb_seconds = float(self._tb)
        self._step = _default_step(codec, self._tb)
        self._pending, self._started, self._prev_dts = [], False, None

    def add_packets(self, packets: Iterable[buffer_pb2.Packet]) -> None:
        """Add packets of the current segment (decode order). Raises RemuxError."""
        if self._codec is None:
            raise RemuxError("packets arrived before the codec parameters")
        self._pending.extend(packets)
        if not self._started and not self._choose_first(final=False):
            return
        self._mux_pending(keep_last=True)

    def close(self, note: str = "") -> RemuxResult:
        """Finish the file and move it into place. Raises RemuxError when nothing
        decodable was written (no file is left behind)."""
        try:
            self._end_segment()
            if self._output is None:
                raise RemuxError("the window holds no keyframe, nothing can be decoded")
            with self._converted_errors():
                self._stack.close()  # trailer (+faststart), then the atomic rename
        except BaseException:
            self.abort()
            raise
        codec = self._first_codec
        assert codec is not None
        return RemuxResult(
            media_start_time=datetime.fromtimestamp(self._media_start, UTC),
            media_end_time=datetime.fromtimestamp(self._media_end, UTC),
            duration_seconds=float(self._end_pts),
            frame_count=self._frames,
            size_bytes=self._target.stat().st_size,
            first_is_keyframe=self._first_keyframe,
            codec_name=codec.codec_name,
            width=codec.width,
            height=codec.height,
            segments_used=self._segments,
            note=note,
        )

    def abort(self) -> None:
        """Drop the partial file (idempotent)."""
        self._stack.__exit__(RemuxError, RemuxError("aborted"), None)

    # -- internals ----------------------------------------------------------

    def _choose_first(self, *, final: bool) -> bool:
        """Pick the current segment's first packet among the pending ones; True
        once chosen. Not ``final``: wait while every keyframe so far is at or
        before ``start`` (a later one might still be)."""
        pending = self._pending
        keyframes = [i for i, p in enumerate(pending) if p.keyframe]
        if not keyframes:
            if final:
                self._pending = []
            return False
        start = self._start if self._output is None else None
        first = keyframes[0]
        if start is not None:
            if not final and wall_seconds(pending[keyframes[-1]]) <= start:
                return False
            for i in keyframes:
                if wall_seconds(pending[i]) <= start:
                    first = i
        del pending[:first]
        self._open_output()
        head = pending[0]
        if self._segments == 0:
            self._offset = -head.pts  # the first keyframe is shown at 0
            self._media_start = self._media_end = wall_seconds(head)
            self._first_keyframe = head.keyframe
        else:  # continue right after the previous segment: DTS never overlap
            self._offset = math.ceil(self._next_dts / self._tb) - head.dts
        self._segments += 1
        self._started = True
        return True

    def _open_output(self) -> None:
        if self._output is not None:
            return
        codec = self._codec
        assert codec is not None
        with self._converted_errors():
            tmp = self._stack.enter_context(atomic_output(self._target))
            template_holder = self._stack.enter_context(av.open(io.BytesIO(), "w", format="mp4"))
            self._output = self._stack.enter_context(
                av.open(str(tmp), "w", format="mp4", options=MP4_OPTIONS)
            )
            # A never-opened codec context only names the codec; the muxer reads the
            # stream's parameters (set below) from it when it writes the header.
            template = template_holder.add_stream(codec.codec_name)
            stream = self._output.add_stream_from_template(template, opaque=True)
            ctx = stream.codec_context
            ctx.extradata = codec.extradata or None
            ctx.width, ctx.height = codec.width, codec.height
            ctx.time_base = self._tb
            stream.time_base = self._tb
        self._stream = stream
        self._first_codec = codec

    def _end_segment(self) -> None:
        """Mux what the current segment still holds (its last packet)."""
        if self._codec is None:
            return
        if not self._started:
            self._choose_first(final=True)
        if self._started:
            self._mux_pending(keep_last=False)
        self._pending = []

    def _mux_pending(self, *, keep_last: bool) -> None:
        pending = self._pending
        count = len(pending) - 1 if keep_last else len(pending)
        # Plain ints and floats in this loop: it runs once per frame (900 for a 60 s
        # clip at 15 fps) and Fraction arithmetic here would cost more than muxing.
        output, stream, tb, offset = self._output, self._stream, self._tb, self._offset
        assert output is not None and stream is not None
        dts_end = pts_end = -(2**62)
        wall_end = self._media_end
        with self._converted_errors():
            for i in range(count):
                p = pending[i]
                duration = p.duration
                if duration <= 0:
                    if i + 1 < len(pending):
                        duration = max(pending[i + 1].dts - p.dts, 1)
                    elif self._prev_dts is None:
                        duration = self._step
                    else:
                        duration = max(p.dts - self._prev_dts, 1)
                out = av.Packet(p.data)
                out.time_base = tb
                out.dts = dts = p.dts + offset
                out.pts = pts = p.pts + offset
                out.duration = duration
                out.is_keyframe = p.keyframe
                out.stream = stream
                output.mux_one(out)
                self._prev_dts = p.dts
                dts_end = max(dts_end, dts + duration)
                pts_end = max(pts_end, pts + duration)
                wall_end = max(wall_end, wall_seconds(p) + duration * self._tb_seconds)
        if count > 0:
            self._frames += count
            self._next_dts = max(self._next_dts, dts_end * tb)
            self._end_pts = max(self._end_pts, pts_end * tb)
            self._media_end = wall_end
        del pending[:count]

    @contextlib.contextmanager
    def _converted_errors(self) -> Iterator[None]:
        try:
            yield
        except av.FFmpegError as err:
            raise RemuxError(f"FFmpeg could not write the MP4: {err}") from err
        except ValueError as err:  # PyAV: unknown codec or one MP4 cannot hold
            name = self._codec.codec_name if self._codec else "?"
            raise RemuxError(f"cannot mux {name!r} into MP4: {err}") from err


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
    picks the segments to keep when the codec parameters change in the window.

    Returns a RemuxResult. Raises RemuxError when there is nothing decodable to
    write or FFmpeg fails (no file is left behind).
    """
    chosen, note = select_segments(segments, event_time)
    if not chosen:
        raise RemuxError("the window holds no packets")
    writer = Mp4Writer(path, start_time.timestamp() if start_time is not None else None)
    try:
        for segment in chosen:
            writer.open_segment(segment.codec)
            writer.add_packets(segment.packets)
    except BaseException:
        writer.abort()
        raise
    return writer.close(note)


class LiveRemux:
    """Remuxes a ReadWindow reply stream while it arrives (``feed`` each reply,
    then ``finish``), so that when the post-roll is buffered only its last
    packets and the MP4 trailer are left to write.

    ``segments`` keeps every packet fed (the thumbnail is made from them). When
    the codec parameters change inside the window the incremental file is
    dropped and ``finish`` falls back to ``remux_to_mp4``, which keeps the
    segments around the event. Blocking (FFmpeg): call from a worker thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start_time: datetime | None = None,
        event_time: datetime | None = None,
    ) -> None:
        self.path = Path(path)
        self.start_time = start_time
        self.event_time = event_time
        self.segments: list[Segment] = []
        self._writer: Mp4Writer | None = Mp4Writer(
            self.path, start_time.timestamp() if start_time is not None else None
        )

    def feed(self, response: buffer_pb2.ReadWindowResponse) -> None:
        """Take one ReadWindow reply. Raises RemuxError for a broken stream or
        an FFmpeg failure."""
        if response.HasField("codec"):
            self.segments.append(Segment(response.codec))
            if self._writer is not None:
                try:
                    self._writer.open_segment(response.codec)
                except IncompatibleSegment:
                    self.abort()
        elif response.HasField("packets"):
            if not self.segments:
                raise RemuxError("ReadWindow sent packets before the codec parameters")
            self.segments[-1].packets.extend(response.packets.packets)
            if self._writer is not None:
                self._writer.add_packets(response.packets.packets)

    def finish(self) -> RemuxResult:
        """Complete the MP4 at ``path``. Raises RemuxError (no file is left)."""
        if self._writer is None:
            return remux_to_mp4(
                self.segments, self.path, start_time=self.start_time, event_time=self.event_time
            )
        writer, self._writer = self._writer, None
        return writer.close()

    def abort(self) -> None:
        """Drop the incremental file (``finish`` then remuxes from ``segments``)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
