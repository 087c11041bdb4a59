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

Every PyAV error is re-raised as ``SourceError`` (``from err``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import av

from eventclip.buffer.ring import CodecParams
from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec

#: Lag (s) allowed between a packet's mapped wall time and its arrival before
#: the wall clock starts a new segment; HLS delivers whole segments late.
LIVE_MAX_BEHIND = 10.0
HLS_MAX_BEHIND = 60.0


class SourceError(Exception):
    """The camera source cannot be opened or read; the message says why."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The video stream as the demuxer reports it.

    ``codec``: its parameters with ``segment_id`` 0 (segments are the wall
    clock's to assign). ``realtime_start``: wall-clock seconds since the epoch
    of pts 0 from an RTCP sender report, None when the source has none.
    """

    codec: CodecParams
    realtime_start: float | None = None


@dataclass(frozen=True, slots=True)
class DemuxedPacket:
    """``bytes(av.Packet)`` and its timestamps in the stream's time_base."""

    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool


@dataclass(frozen=True, slots=True)
class OpenedSource:
    info: StreamInfo
    packets: Iterator[DemuxedPacket]
    #: See LIVE_MAX_BEHIND.
    max_behind: float = LIVE_MAX_BEHIND


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for status and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@contextlib.contextmanager
def open_source(
    url: str,
    stop: threading.Event,
    *,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
) -> Iterator[OpenedSource]:
    """Open ``url`` and yield an OpenedSource; closes everything on exit.

    ``stop``: when set, live-paced sources stop waiting and iteration ends.
    ``open_timeout``/``read_timeout``: seconds before opening or a read that
    returns no data fails. Raises SourceError (also while iterating).
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme == "synthetic":
        yield _synthetic(url, stop)
    elif scheme == "file":
        path = Path(unquote(urlsplit(url).path))
        with _open_container(str(path), {}, open_timeout, read_timeout) as container:
            info = _stream_info(container, url)
        yield OpenedSource(info, _looping_file(path, info, stop, open_timeout, read_timeout))
    elif scheme in ("rtsp", "rtsps"):
        # FFmpeg's RTSP `timeout` is the socket I/O timeout in microseconds.
        options = {"rtsp_transport": "tcp", "timeout": str(int(read_timeout * 1e6))}
        with _open_container(url, options, open_timeout, read_timeout) as container:
            yield OpenedSource(_stream_info(container, url), _demux(container, stop, read_timeout))
    elif scheme in ("http", "https"):
        options = {"rw_timeout": str(int(read_timeout * 1e6))}
        with _open_container(url, options, open_timeout, read_timeout) as container:
            yield OpenedSource(
                _stream_info(container, url),
                _demux(container, stop, read_timeout),
                HLS_MAX_BEHIND,
            )
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
        segment_id=0,
    )
    # AV_NOPTS_VALUE is a large negative number; 0 means "not set".
    return StreamInfo(codec, realtime / 1e6 if realtime and realtime > 0 else None)


def _demux(
    container: av.container.InputContainer, stop: threading.Event, read_timeout: float
) -> Iterator[DemuxedPacket]:
    """Video packets of a live container until it ends, fails or ``stop``."""
    stream = container.streams.video[0]
    try:
        for packet in _complete_gops(container.demux(stream)):
            yield packet
            if stop.is_set():
                return
    except av.ExitError as err:
        raise SourceError(f"no data for {read_timeout:g} s (read timeout)") from err
    except (av.FFmpegError, OSError) as err:
        raise SourceError(f"reading the source failed: {err}") from err


def _complete_gops(packets: Iterable[av.Packet]) -> Iterator[DemuxedPacket]:
    """Demuxed packets with both timestamps. A packet without pts or dts
    (FFmpeg's RTSP parser emits one for the first keyframe; the demuxer's final
    flush packet is empty) is dropped together with the rest of its GOP, which
    could not be decoded without it."""
    broken = False
    for packet in packets:
        if packet.size == 0:
            continue
        if packet.pts is None or packet.dts is None:
            broken = True
            continue
        keyframe = packet.is_keyframe
        if broken and not keyframe:
            continue
        broken = False
        yield DemuxedPacket(bytes(packet), packet.pts, packet.dts, packet.duration or 0, keyframe)


class _Pacer:
    """Releases packets in real time: the packet ``offset`` seconds into the
    stream is due ``offset`` seconds after the first one (monotonic clock)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._t0: float | None = None

    def wait(self, offset: float) -> bool:
        """Sleep until ``offset`` s after the first call; False when stopped."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - offset
        delay = self._t0 + offset - now
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()


def _looping_file(
    path: Path,
    info: StreamInfo,
    stop: threading.Event,
    open_timeout: float,
    read_timeout: float,
) -> Iterator[DemuxedPacket]:
    """The file's video packets, paced in real time and looped forever. Loop k
    shifts pts/dts by k x (the file's decode span: last dts + duration - first
    dts), so timestamps keep increasing."""
    pacer = _Pacer(stop)
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
                for packet in _complete_gops(container.demux(stream)):
                    if loop_first is None:
                        loop_first = packet.dts
                    if first_dts is None:
                        first_dts = packet.dts
                    dts = packet.dts + offset
                    if not pacer.wait(float((dts - first_dts) * info.codec.time_base)):
                        return
                    loop_end = packet.dts + packet.duration
                    yield DemuxedPacket(
                        packet.data, packet.pts + offset, dts, packet.duration, packet.keyframe
                    )
            except (av.FFmpegError, OSError) as err:
                raise SourceError(f"reading {path} failed: {err}") from err
        if loop_first is None or loop_end is None or loop_end <= loop_first:
            raise SourceError(f"{path} has no video packets to replay")
        offset += loop_end - loop_first


def _synthetic(url: str, stop: threading.Event) -> OpenedSource:
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
            segment_id=0,
        )
    )
    return OpenedSource(info, _synthetic_packets(encoder, stop))


def _synthetic_packets(encoder: SyntheticEncoder, stop: threading.Event) -> Iterator[DemuxedPacket]:
    """Encode frame i when it is due (i / fps seconds after the first)."""
    pacer = _Pacer(stop)
    index = 0
    try:
        while pacer.wait(index / encoder.spec.fps):
            yield from _complete_gops(encoder.encode())
            index += 1
    except av.FFmpegError as err:
        raise SourceError(f"synthetic encoder failed: {err}") from err
