"""Synthetic H.264: frames drawn with NumPy and encoded by libx264 through PyAV.

Used by the ``synthetic://`` camera (the zero-config demo) and by tests and
benchmarks that need real H.264 without a committed binary (Home Assistant's
stream tests do the same). Each frame shows moving bars plus a frame counter
bar pattern so that decoded frames differ and can be told apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape of a synthetic stream. ``gop_frames``: frames per GOP (keyframe
    interval); ``bitrate``: target bits per second (0 = libx264's CRF default)."""

    width: int = 640
    height: int = 360
    fps: int = 15
    gop_frames: int = 30
    bitrate: int = 0

    @classmethod
    def from_url(cls, url: str) -> SyntheticSpec:
        """Parse ``synthetic://[WxH][@FPS][?gop=N&bitrate=BPS]``, e.g.
        ``synthetic://1920x1080@15?gop=30&bitrate=4000000``.
        Raises ValueError on a malformed URL."""
        rest = url.removeprefix("synthetic://")
        query = ""
        if "?" in rest:
            rest, query = rest.split("?", 1)
        kwargs: dict[str, int] = {}
        try:
            if "@" in rest:
                rest, fps = rest.split("@", 1)
                kwargs["fps"] = int(fps)
            if rest:
                w, h = rest.lower().split("x", 1)
                kwargs["width"], kwargs["height"] = int(w), int(h)
            for part in filter(None, query.split("&")):
                key, value = part.split("=", 1)
                if key == "gop":
                    kwargs["gop_frames"] = int(value)
                elif key == "bitrate":
                    kwargs["bitrate"] = int(value)
                else:
                    raise ValueError(f"unknown parameter {key!r}")
        except ValueError as err:
            raise ValueError(f"malformed synthetic URL {url!r}: {err}") from err
        spec = cls(**kwargs)
        if spec.width % 2 or spec.height % 2 or spec.width <= 0 or spec.height <= 0:
            raise ValueError(f"synthetic URL {url!r}: width and height must be even and positive")
        if spec.fps <= 0 or spec.gop_frames <= 0:
            raise ValueError(f"synthetic URL {url!r}: fps and gop must be positive")
        return spec


def draw_frame(spec: SyntheticSpec, index: int) -> np.ndarray:
    """An RGB frame (height x width x 3, uint8) for frame ``index``."""
    h, w = spec.height, spec.width
    x = np.arange(w, dtype=np.uint16)
    row = ((x + index * 4) % 256).astype(np.uint8)
    frame = np.empty((h, w, 3), dtype=np.uint8)
    frame[:, :, 0] = row
    frame[:, :, 1] = (
        np.arange(h, dtype=np.uint8)[:, None] if h <= 256 else (np.arange(h) % 256)[:, None]
    )
    frame[:, :, 2] = (index * 7) % 256
    # A block whose position encodes the frame number, so frames are distinguishable.
    bx = (index * 8) % max(w - 16, 1)
    frame[h // 2 - 8 : h // 2 + 8, bx : bx + 16] = 255
    return frame


class SyntheticEncoder:
    """Encodes synthetic frames to H.264 packets (Annex B). The encoder runs with
    GLOBAL_HEADER so SPS/PPS sit out of band in ``extradata``, as a camera's SDP
    carries them; FFmpeg's MP4 muxer turns them into the avcC box.

    ``packets(n)`` yields ``av.Packet``s with pts/dts in ``time_base`` = 1/fps.
    """

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec
        self.codec = av.CodecContext.create("libx264", "w")
        self.codec.width = spec.width
        self.codec.height = spec.height
        self.codec.pix_fmt = "yuv420p"
        self.codec.time_base = Fraction(1, spec.fps)
        self.codec.framerate = Fraction(spec.fps, 1)
        self.codec.gop_size = spec.gop_frames
        if spec.bitrate:
            self.codec.bit_rate = spec.bitrate
        self.codec.flags |= av.codec.context.Flags.global_header
        self.codec.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",  # no B-frames, no lookahead: packets out as frames go in
            "keyint_min": str(spec.gop_frames),
            "sc_threshold": "0",  # keyframes only on the GOP boundary, like a camera
        }
        self.codec.open()
        self._index = 0

    @property
    def time_base(self) -> Fraction:
        return Fraction(1, self.spec.fps)

    @property
    def extradata(self) -> bytes:
        return bytes(self.codec.extradata or b"")

    def encode(self, index: int | None = None) -> list[av.Packet]:
        """Encode the next frame; return the packets it produced (usually one)."""
        i = self._index if index is None else index
        frame = av.VideoFrame.from_ndarray(draw_frame(self.spec, i), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        frame.time_base = self.time_base
        self._index = i + 1
        return list(self.codec.encode(frame))

    def packets(self, count: int) -> Iterator[av.Packet]:
        """Encode ``count`` frames and flush; yields every packet in decode order."""
        for _ in range(count):
            yield from self.encode()
        yield from self.codec.encode(None)
