"""Camera sources: open a URL, yield its demuxed video packets (never decoded).

``open_source(url, stop)`` is a context manager giving an ``OpenedSource``
(codec parameters + an iterator of packets in decode order). Schemes:

- ``rtsp://``, ``rtsps://``: FFmpeg's RTSP demuxer over TCP, with a socket
  timeout so a camera that accepts but sends nothing cannot hang the reader.
- ``http(s)://...m3u8``: HLS through FFmpeg, the same live path.
- ``file://PATH``: a recording replayed in real time and looped forever, with
  timestamps kept continuous across loops, so it looks like a live camera.
- ``synthetic://[WxH][@FPS][?gop=N&bitrate=BPS]``: frames encoded by libx264
  in real time (eventclip.buffer.synthetic).

Every PyAV error is re-raised as ``SourceError`` (``from err``). Timestamps the
demuxer leaves out after a connect are recovered (eventclip.buffer.timestamps).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av

from eventclip.buffer.ring import CodecParams
from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec
from eventclip.buffer.timestamps import DemuxedPacket, complete_timestamps
from eventclip.redact import redact_credentials, redact_url

__all__ = [
    "DemuxedPacket",
    "OpenedSource",
    "PacingClock",
    "SourceError",
    "StreamInfo",
    "open_source",
]

#: Lag (s) allowed between a packet's mapped wall time and its arrival before
#: the wall clock starts a new timeline; HLS delivers whole timelines late.
LIVE_MAX_BEHIND = 10.0
HLS_MAX_BEHIND = 60.0


class SourceError(Exception):
    """The camera source cannot be opened or read; the message says why, with
    any password in it redacted (FFmpeg's texts carry the URL)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_credentials(message))


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The video stream as the demuxer reports it.

    ``codec``: its parameters with ``timeline_id`` 0 (timelines are the wall
    clock's to assign). ``realtime_start``: wall-clock seconds since the epoch
    of pts 0 from an RTCP sender report, None when the source has none.
    ``reorder_depth``: frames a decoder holds back to reorder B-frames
    (FFmpeg's ``has_b_frames``; 0 without B-frames).
    """

    codec: CodecParams
    realtime_start: float | None = None
    reorder_depth: int = 0
    #: The source's URL, password redacted, for log lines.
    label: str = ""

    @property
    def frame_duration(self) -> int | None:
        """One frame in time_base units (1 / (frame_rate x time_base), rounded);
        None when the frame rate is unknown."""
        rate, time_base = self.codec.frame_rate, self.codec.time_base
        if not rate:
            return None
        return max(round(1 / (rate * time_base)), 1)


@dataclass(frozen=True, slots=True)
class OpenedSource:
    info: StreamInfo
    packets: Iterator[DemuxedPacket]
    #: See LIVE_MAX_BEHIND.
    max_behind: float = LIVE_MAX_BEHIND


@dataclass(frozen=True)
class PacingClock:
    """Where real-time pacing reads the time and waits: ``now()`` in seconds
    (monotonic), ``wait(stop, seconds)`` returning True when ``stop`` was set
    meanwhile. The default is time.monotonic and Event.wait; tests pass a
    virtual clock so pacing is exact and independent of machine load."""

    now: Callable[[], float] = time.monotonic
    wait: Callable[[threading.Event, float], bool] = threading.Event.wait


REAL_TIME = PacingClock()


@contextlib.contextmanager
def open_source(
    url: str,
    stop: threading.Event,
    *,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
    clock: PacingClock = REAL_TIME,
) -> Iterator[OpenedSource]:
    """Open ``url`` and yield an OpenedSource; closes everything on exit.

    ``stop``: when set, live-paced sources stop waiting and iteration ends.
    ``open_timeout``/``read_timeout``: seconds before opening or a read that
    returns no data fails. ``clock``: what paces ``file://`` and
    ``synthetic://`` sources. Raises SourceError (also while iterating).
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme == "synthetic":
        yield _synthetic(url, stop, clock)
    elif scheme == "file":
        path = Path(unquote(urlsplit(url).path))
        with _open_container(str(path), {}, open_timeout, read_timeout) as container:
            info = _stream_info(container, url)
        yield OpenedSource(info, _looping_file(path, info, stop, open_timeout, read_timeout, clock))
    elif scheme in ("rtsp", "rtsps"):
        # FFmpeg's RTSP `timeout` is the socket I/O timeout in microseconds.
        options = {"rtsp_transport": "tcp", "timeout": str(int(read_timeout * 1e6))}
        with _open_container(url, options, open_timeout, read_timeout) as container:
            info = _stream_info(container, url)
            yield OpenedSource(info, _demux(container, info, stop, read_timeout))
    elif scheme in ("http", "https"):
        options = {"rw_timeout": str(int(read_timeout * 1e6))}
        with _open_container(url, options, open_timeout, read_timeout) as container:
            info = _stream_info(container, url)
            yield OpenedSource(info, _demux(container, info, stop, read_timeout), HLS_MAX_BEHIND)
    else:
        raise SourceError(f"unsupported source scheme {scheme!r} in {redact_url(url)}")


@contextlib.contextmanager
def _open_container(
    target: str, options: dict[str, str], open_timeout: float, read_timeout: float
) -> Iterator[av.container.InputContainer]:
    try:
        container = av.open(target, container_options=options, timeout=(open_timeout, read_timeout))
    except av.ExitError as err:
        raise SourceError(f"no answer within {open_timeout:g} s opening the source") from err
    except (av.FFmpegError, OSError) as err:
        raise SourceError(f"cannot open source: {err}") from err
    with contextlib.closing(container):
        yield container


def _stream_info(container: av.container.InputContainer, url: str) -> StreamInfo:
    if not container.streams.video:
        raise SourceError(f"{redact_url(url)} has no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    realtime = container.start_time_realtime
    codec = CodecParams(
        codec_name=ctx.name,
        extradata=bytes(ctx.extradata or b""),
        width=ctx.width,
        height=ctx.height,
        time_base=Fraction(stream.time_base),
        frame_rate=Fraction(stream.average_rate or stream.guessed_rate or 0) or None,
        pix_fmt=ctx.pix_fmt or "",
        timeline_id=0,
    )
    # AV_NOPTS_VALUE is a large negative number; 0 means "not set".
    return StreamInfo(
        codec,
        realtime / 1e6 if realtime and realtime > 0 else None,
        _reorder_depth(ctx),
        redact_url(url),
    )


def _reorder_depth(ctx: av.codec.context.CodecContext) -> int:
    # PyAV's reorder_depth is FFmpeg's has_b_frames as an int; older PyAV only
    # has the bool, and a depth it gets wrong fails the recovery's own check.
    depth = getattr(ctx, "reorder_depth", None)
    return int(depth if depth is not None else ctx.has_b_frames)


def _packets(container: av.container.InputContainer, info: StreamInfo) -> Iterator[DemuxedPacket]:
    return complete_timestamps(
        container.demux(container.streams.video[0]),
        reorder_depth=info.reorder_depth,
        frame_duration=info.frame_duration,
        label=info.label,
    )


def _demux(
    container: av.container.InputContainer,
    info: StreamInfo,
    stop: threading.Event,
    read_timeout: float,
) -> Iterator[DemuxedPacket]:
    """Video packets of a live container until it ends, fails or ``stop``."""
    try:
        for packet in _packets(container, info):
            yield packet
            if stop.is_set():
                return
    except av.ExitError as err:
        raise SourceError(f"no data for {read_timeout:g} s (read timeout)") from err
    except (av.FFmpegError, OSError) as err:
        raise SourceError(f"reading the source failed: {err}") from err


class _Pacer:
    """Releases packets in real time: the packet ``offset`` seconds into the
    stream is due ``offset`` seconds after the first one, on ``clock``."""

    def __init__(self, stop: threading.Event, clock: PacingClock) -> None:
        self.stop = stop
        self.clock = clock
        self._t0: float | None = None

    def wait(self, offset: float) -> bool:
        """Sleep until ``offset`` s after the first call; False when stopped."""
        now = self.clock.now()
        if self._t0 is None:
            self._t0 = now - offset
        delay = self._t0 + offset - now
        if delay > 0:
            return not self.clock.wait(self.stop, delay)
        return not self.stop.is_set()


def _looping_file(
    path: Path,
    info: StreamInfo,
    stop: threading.Event,
    open_timeout: float,
    read_timeout: float,
    clock: PacingClock,
) -> Iterator[DemuxedPacket]:
    """The file's video packets, paced in real time and looped forever. Loop k
    shifts pts/dts by k x (the file's decode span: last dts + duration - first
    dts), so timestamps keep increasing. A packet's ``arrival`` is when it was
    due."""
    pacer = _Pacer(stop, clock)
    offset = 0
    first_dts: int | None = None
    while not stop.is_set():
        loop_first: int | None = None
        loop_end: int | None = None
        with _open_container(str(path), {}, open_timeout, read_timeout) as container:
            stream = container.streams.video[0]
            if Fraction(stream.time_base) != info.codec.time_base:
                raise SourceError(f"{path} changed while being replayed")
            try:
                for packet in _packets(container, info):
                    if loop_first is None:
                        loop_first = packet.dts
                    if first_dts is None:
                        first_dts = packet.dts
                    dts = packet.dts + offset
                    if not pacer.wait(float((dts - first_dts) * info.codec.time_base)):
                        return
                    loop_end = packet.dts + packet.duration
                    yield dataclasses.replace(
                        packet, pts=packet.pts + offset, dts=dts, arrival=time.time()
                    )
            except (av.FFmpegError, OSError) as err:
                raise SourceError(f"reading {path} failed: {err}") from err
        if loop_first is None or loop_end is None or loop_end <= loop_first:
            raise SourceError(f"{path} has no video packets to replay")
        offset += loop_end - loop_first


def _synthetic(url: str, stop: threading.Event, clock: PacingClock) -> OpenedSource:
    try:
        spec = SyntheticSpec.from_url(url)
    except ValueError as err:
        raise SourceError(str(err)) from err
    encoder = SyntheticEncoder(spec)
    info = StreamInfo(
        CodecParams(
            codec_name="h264",
            extradata=encoder.extradata,
            width=spec.width,
            height=spec.height,
            time_base=encoder.time_base,
            frame_rate=Fraction(spec.fps),
            pix_fmt="yuv420p",
            timeline_id=0,
        )
    )
    return OpenedSource(info, _synthetic_packets(encoder, stop, clock))


def _synthetic_packets(
    encoder: SyntheticEncoder, stop: threading.Event, clock: PacingClock
) -> Iterator[DemuxedPacket]:
    """Encode frame i when it is due (i / fps seconds after the first)."""
    pacer = _Pacer(stop, clock)
    index = 0
    try:
        while pacer.wait(index / encoder.spec.fps):
            # libx264 stamps every packet (tune=zerolatency: no B-frames).
            yield from complete_timestamps(encoder.encode(), reorder_depth=0, frame_duration=1)
            index += 1
    except av.FFmpegError as err:
        raise SourceError(f"synthetic encoder failed: {err}") from err
