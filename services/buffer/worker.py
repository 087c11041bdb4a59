"""Ingest: one demux thread per camera feeding its ring on the asyncio loop.

PyAV releases the GIL inside FFmpeg, so threads scale to many cameras without
a process each. The thread opens the source, stamps packets with wall-clock
time (eventclip.buffer.wallclock) and hands them to the loop with
``loop.call_soon_threadsafe``; the ring itself is only touched on the loop.
Failures reopen the source with capped exponential backoff and jitter
(eventclip.retry); a connection that delivered a keyframe resets the backoff,
however it ended. A failing camera affects nothing but its own thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import av.logging

from eventclip.buffer.bitstream import mp4_form
from eventclip.buffer.ring import BufferedPacket, CodecParams, PacketRing
from eventclip.buffer.sources import OpenedSource, SourceError, open_source
from eventclip.buffer.wallclock import WallClock
from eventclip.media.mp4_boxes import Unsupported
from eventclip.redact import redact_credentials, redact_url
from eventclip.retry import Backoff, FailureStreak

log = logging.getLogger(__name__)

# FFmpeg's default log callback takes a global lock per message, serialising
# every demux thread; the buffer reports errors through exceptions instead.
av.logging.set_level(None)


class CameraState(enum.Enum):
    CONNECTING = "CONNECTING"
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


def reconnect_backoff(max_seconds: float) -> Backoff:
    """Reconnect delays: 0.5 s doubling up to ``max_seconds``
    (``cameras[].reconnect_max_seconds``), each stretched or shrunk by up to
    20 % so that cameras behind one failed switch do not reconnect in lockstep.
    The streak restarts at 0.5 s once a connection delivers a keyframe."""
    return Backoff(initial=min(0.5, max_seconds), maximum=max_seconds, jitter=0.2)


#: The delays of a camera with the default reconnect_max_seconds (5 s).
DEFAULT_BACKOFF = reconnect_backoff(5.0)


@dataclass
class IngestStatus:
    """Written by the ingest thread, read by the loop (plain attribute writes)."""

    state: CameraState = CameraState.CONNECTING
    message: str = ""
    #: Times the source was opened again after a failure.
    reconnects: int = 0
    #: time.time() of the newest packet read, None before the first.
    last_packet_arrival: float | None = None


class CameraWorker:
    """Runs the demux thread of one camera.

    ``ring`` receives packets through ``loop``. ``open_timeout``/``read_timeout``
    (seconds) bound a silent source; ``stop()`` ends the thread within about
    ``read_timeout`` at worst (between packets at best).
    """

    def __init__(
        self,
        camera_id: str,
        url: str,
        ring: PacketRing,
        loop: asyncio.AbstractEventLoop,
        *,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.ring = ring
        self.loop = loop
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff = backoff
        self.status = IngestStatus()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (returns at once; see join)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        streak = FailureStreak(self.backoff)
        while not self._stop.is_set():
            self._set(CameraState.CONNECTING, self.status.message)
            try:
                with open_source(
                    self.url,
                    self._stop,
                    open_timeout=self.open_timeout,
                    read_timeout=self.read_timeout,
                ) as source:
                    if streak.failures:
                        self.status.reconnects += 1
                    self._ingest(source, on_keyframe=streak.reset)
                    if self._stop.is_set():
                        break
                    raise SourceError("the source ended")
            except SourceError as err:
                reason = str(err)
            except Exception as err:
                log.exception("camera %s: ingest failed", self.camera_id)
                reason = redact_credentials(f"internal error: {err}")
            if self._stop.is_set():
                break
            delay = streak.failed()
            self._set(CameraState.OFFLINE, f"{reason} (retry {streak.failures} in {delay:.1f} s)")
            log.warning(
                "camera %s (%s) offline: %s; retrying in %.1f s",
                self.camera_id,
                redact_url(self.url),
                reason,
                delay,
            )
            self._stop.wait(delay)

    def _ingest(self, source: OpenedSource, on_keyframe: Callable[[], None]) -> None:
        """Feed the ring until the source ends or stop. ``on_keyframe`` is
        called at the connection's first keyframe (it came ONLINE), before
        anything that follows can fail."""
        info = source.info
        stream_codec, to_mp4_form = mp4_form(info.codec)
        clock = WallClock(
            info.codec.time_base, realtime_start=info.realtime_start, max_behind=source.max_behind
        )
        codec: CodecParams | None = None
        online = False
        for packet in source.packets:
            stamp = clock.stamp(packet.pts, packet.dts, packet.arrival)
            if stamp.new_timeline or codec is None:
                codec = dataclasses.replace(stream_codec, timeline_id=stamp.timeline_id)
            self.status.last_packet_arrival = packet.arrival
            if not online and packet.keyframe:
                online = True
                on_keyframe()
                self._set(CameraState.ONLINE, "")
            try:
                data = to_mp4_form(packet.data)
            except Unsupported as err:
                log.warning("camera %s: packet dropped: %s", self.camera_id, err)
                continue
            buffered = BufferedPacket(
                data,
                packet.pts,
                packet.dts,
                packet.duration,
                packet.keyframe,
                stamp.wall_time,
                stamp.timeline_id,
            )
            try:
                self.loop.call_soon_threadsafe(self.ring.append, buffered, codec)
            except RuntimeError:  # the loop closed under us: shutting down
                return
            if self._stop.is_set():
                return

    def _set(self, state: CameraState, message: str) -> None:
        self.status.state = state
        self.status.message = message
