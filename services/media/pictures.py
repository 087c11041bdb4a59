"""Decoding single pictures and making JPEGs, with FFmpeg through PyAV (no
imaging library): the clip thumbnail, the camera snapshot and the frames
sampled for detectors all come through here.

The ring never decodes on ingest; these run only when a picture is asked for,
in a worker thread (each call is blocking, CPU-bound C code).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

#: mjpeg quantiser scale (FFmpeg's ``-q:v``; 2 best .. 31 worst).
JPEG_QSCALE = 4
#: FFmpeg's FF_QP2LAMBDA: global_quality is a quantiser in lambda units.
_QP2LAMBDA = 118


class PictureError(Exception):
    """A packet that does not decode to a picture (the message says why)."""


def new_decoder(
    codec_name: str, extradata: bytes, skip_loop_filter: bool = False
) -> av.CodecContext:
    """A decoder for one timeline (``extradata``: avcC/hvcC or Annex B
    parameter sets, may be empty). Slice threads only: frame threads would
    hold every picture back by a frame per thread. ``skip_loop_filter``:
    no deblocking and one thread, for pictures only a detector sees, where
    CPU per camera matters more than latency (~15 % less CPU, and no slice
    threads to coordinate; on the 1080p bench camera >= 41 dB PSNR against a
    full decode, scaled to 640 wide).
    Raises PictureError for a codec FFmpeg does not know."""
    try:
        decoder = av.CodecContext.create(codec_name, "r")
    except (av.FFmpegError, ValueError) as err:
        raise PictureError(f"no {codec_name} decoder: {err}") from err
    if extradata:
        decoder.extradata = extradata
    decoder.thread_type = "SLICE"
    if skip_loop_filter:
        decoder.options = {"skip_loop_filter": "all"}
        decoder.thread_count = 1
    return decoder


def decode(decoder: av.CodecContext, packets: Iterable[av.Packet | None]) -> list[av.VideoFrame]:
    """Feed ``packets`` (None flushes) and return the pictures that came out,
    in display order. Raises PictureError when the decoder refuses one."""
    frames: list[av.VideoFrame] = []
    try:
        for packet in packets:
            frames += decoder.decode(packet)
    except (av.FFmpegError, ValueError) as err:
        raise PictureError(f"cannot decode the {decoder.name} stream: {err}") from err
    return frames


def decode_keyframe(
    codec_name: str, extradata: bytes, data: bytes, skip_loop_filter: bool = False
) -> av.VideoFrame:
    """Decode one keyframe packet on its own (``skip_loop_filter``: as for
    ``new_decoder``). Raises PictureError."""
    decoder = new_decoder(codec_name, extradata, skip_loop_filter)
    frames = decode(decoder, [av.Packet(data), None])
    if not frames:
        raise PictureError(f"the {codec_name} keyframe decoded to no picture")
    return frames[0]


def fit_inside(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest even size with ``width:height``'s aspect ratio inside the box."""
    scale = min(box_w / width, box_h / height)
    w = max(2, min(box_w, round(width * scale / 2) * 2))
    h = max(2, min(box_h, round(height * scale / 2) * 2))
    return w, h


def scaled_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """``width`` x ``height`` shrunk to at most ``max_width`` wide (0: kept),
    aspect ratio kept, even; never enlarged."""
    if max_width <= 0 or max_width >= width:
        return width, height
    return fit_inside(width, height, max_width, height)


def encode_jpeg(frame: av.VideoFrame, qscale: int = JPEG_QSCALE) -> bytes:
    """``frame`` as a baseline JPEG (FFmpeg mjpeg, fixed quantiser), converted
    to full-range ``yuvj420p`` (JFIF) when it is not already."""
    if frame.format.name != "yuvj420p":
        frame = frame.reformat(format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = frame.width, frame.height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    # A fixed quantiser, not a bit rate: rate control means nothing for one picture.
    encoder.options = {"flags": "+qscale", "global_quality": str(qscale * _QP2LAMBDA)}
    frame.pts = 0
    packets = encoder.encode(frame) + encoder.encode(None)
    return b"".join(bytes(p) for p in packets)


def scaled(frame: av.VideoFrame, max_width: int, pix_fmt: str) -> av.VideoFrame:
    """``frame`` at ``scaled_size(..., max_width)`` in ``pix_fmt`` (area
    averaging when it shrinks, as for a thumbnail)."""
    w, h = scaled_size(frame.width, frame.height, max_width)
    return frame.reformat(width=w, height=h, format=pix_fmt, interpolation="AREA")


def rgb_array(frame: av.VideoFrame, max_width: int = 0) -> np.ndarray:
    """``frame`` as an H x W x 3 uint8 RGB array, at most ``max_width`` wide."""
    return scaled(frame, max_width, "rgb24").to_ndarray()
