"""Decoded frames for detectors, sampled from a camera's ring at a given rate.

Ingest stays decode-free; this decodes only for a SampleFrames call, and no
more than its rate needs (docs/ARCHITECTURE.md, "Frames for detectors"):

* **Keyframes only** while the interval asked for (1 / fps) is at least the
  camera's GOP: each sampled keyframe is decoded on its own, so a 1080p
  camera with 2 s GOPs costs one keyframe decode (~10 ms) per sample.
* **The GOP up to the last frame due** otherwise: P- and B-frames need their
  references, so decoding starts at each keyframe and stops, until the next
  keyframe, once no later frame of the GOP can be due. Frames no one waits
  for are decoded only when others refer to them (FFmpeg's ``skip_frame``
  NONREF), and the loop filter is skipped (``skip_loop_filter``): a 1 fps
  sample of a 15 fps camera with 2 s GOPs decodes the keyframe and the
  reference frames up to 1 s into the GOP. The frames sent are the first at
  or after each tick of the 1/fps grid.

The caller reads ring packets and hands them to ``FrameSampler.feed`` in a
worker thread; it skips to the newest keyframe when it falls behind, so a
slow reader costs dropped samples, never an unbounded queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.media import pictures


@dataclass(frozen=True)
class SampledFrame:
    """One decoded picture: ``rgb`` is H x W x 3 uint8 (RGB), at most the
    asked width; ``wall_time`` its UTC time, seconds since the epoch."""

    rgb: np.ndarray
    source_width: int
    source_height: int
    wall_time: float
    keyframe: bool


class FrameSampler:
    """Turns ring packets (decode order) into frames about ``1 / fps`` apart,
    at most ``max_width`` wide (0: the camera's size). Not thread-safe: one
    worker thread at a time. ``feed`` raises PictureError when the stream does
    not decode."""

    def __init__(self, fps: float, max_width: int) -> None:
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.interval = 1.0 / fps
        self.max_width = max_width
        self._next_due = float("-inf")
        self._decoder: av.CodecContext | None = None
        self._timeline: int | None = None
        #: Wall time and keyframe flag of each packet fed, by PTS, until its
        #: frame comes out of the decoder (display order differs with B-frames).
        self._pending: dict[int, tuple[float, bool]] = {}
        #: Decode keyframes only (see ``set_gop_seconds``).
        self.keyframes_only = True
        self._gop_seconds: float | None = None
        #: Wall time of the keyframe that starts the GOP being decoded.
        self._gop_start = float("-inf")
        #: Packets handed to a decoder, and pictures that came out (what the
        #: rate costs; fewer pictures than packets: non-reference ones skipped).
        self.packets_decoded = 0
        self.pictures_decoded = 0

    def set_gop_seconds(self, gop_seconds: float | None) -> None:
        """Decode keyframes only while the interval spans a GOP (None:
        unknown yet, keyframes only)."""
        self._gop_seconds = gop_seconds
        only = gop_seconds is None or self.interval >= gop_seconds * 0.95
        if only != self.keyframes_only:
            self.reset()
        self.keyframes_only = only

    def reset(self) -> None:
        """Forget the decoder state: the next packet fed must be a keyframe
        (after a skip to the newest GOP)."""
        self._decoder = None
        self._pending.clear()

    def due(self, wall_time: float) -> bool:
        """True when a picture at ``wall_time`` would be sent (a millisecond
        early counts: frame times are rounded from PTS)."""
        return wall_time >= self._next_due - 0.001

    def feed(
        self, packets: Sequence[BufferedPacket], codecs: dict[int, CodecParams]
    ) -> list[SampledFrame]:
        """Decode what ``packets`` need for the rate and return the frames due."""
        out: list[SampledFrame] = []
        for packet in packets:
            codec = codecs[packet.timeline_id]
            if packet.timeline_id != self._timeline:
                self._timeline = packet.timeline_id
                self.reset()
            if self.keyframes_only:
                if packet.keyframe and self.due(packet.wall_time):
                    self.packets_decoded += 1
                    frame = pictures.decode_keyframe(
                        codec.codec_name, codec.extradata, packet.data, skip_loop_filter=True
                    )
                    self.pictures_decoded += 1
                    out.append(self._take(frame, packet.wall_time, True))
                continue
            if self._decoder is None:
                if not packet.keyframe:
                    continue  # decoding starts at a keyframe
                self._decoder = pictures.new_decoder(
                    codec.codec_name, codec.extradata, skip_loop_filter=True
                )
            if packet.keyframe:
                self._gop_start = packet.wall_time
            # A packet's wall time is its picture's (display) time: a picture
            # not due is decoded only if later ones refer to it.
            self._decoder.skip_frame = "DEFAULT" if self.due(packet.wall_time) else "NONREF"
            av_packet = av.Packet(packet.data)
            av_packet.pts, av_packet.dts = packet.pts, packet.dts
            self._pending[packet.pts] = (packet.wall_time, packet.keyframe)
            self.packets_decoded += 1
            for frame in pictures.decode(self._decoder, [av_packet]):
                self.pictures_decoded += 1
                wall_key = self._pending.pop(frame.pts, None) if frame.pts is not None else None
                if wall_key is not None and self.due(wall_key[0]):
                    out.append(self._take(frame, *wall_key))
            if len(self._pending) > 64:  # frames the decoder dropped: forget them
                for pts in sorted(self._pending)[:-32]:
                    del self._pending[pts]
            if self._rest_of_gop_not_due():
                self.reset()  # until the next keyframe
        return out

    def _rest_of_gop_not_due(self) -> bool:
        # The same 5 % slack as keyframes_only: the GOP length is an average.
        gop = self._gop_seconds
        return gop is not None and self._next_due >= self._gop_start + gop * 0.95

    def _take(self, frame: av.VideoFrame, wall_time: float, keyframe: bool) -> SampledFrame:
        # The next tick of the 1/fps grid; a frame later than that (a skip, a
        # gap) starts the grid again from itself instead of a burst to catch up.
        start = wall_time if self._next_due == float("-inf") else self._next_due
        self._next_due = start + self.interval
        if self._next_due <= wall_time:
            self._next_due = wall_time + self.interval
        return SampledFrame(
            rgb=pictures.rgb_array(frame, self.max_width),
            source_width=frame.width,
            source_height=frame.height,
            wall_time=wall_time,
            keyframe=keyframe,
        )
