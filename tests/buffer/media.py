"""Real H.264 packets for the buffer tests, as the ring holds them.

``synthetic_packets`` encodes frames with libx264 (SyntheticEncoder) and stamps
them like an ingest thread would: wall = wall_zero + pts x time_base.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec


@functools.cache
def _encoded(spec: SyntheticSpec, frames: int) -> tuple[tuple[bytes, int, int, int, bool], ...]:
    """Encoded once per (spec, frames): libx264 output is what tests share."""
    encoder = SyntheticEncoder(spec)
    return tuple(
        (bytes(p), p.pts, p.dts, p.duration or 1, p.is_keyframe) for p in encoder.packets(frames)
    )


def codec_for(spec: SyntheticSpec, segment_id: int) -> CodecParams:
    encoder_extradata = SyntheticEncoder(spec).extradata
    return CodecParams(
        codec_name="h264",
        extradata=encoder_extradata,
        width=spec.width,
        height=spec.height,
        time_base=Fraction(1, spec.fps),
        frame_rate=Fraction(spec.fps),
        pix_fmt="yuv420p",
        segment_id=segment_id,
    )


def synthetic_packets(
    spec: SyntheticSpec,
    frames: int,
    *,
    wall_zero: float = 1_700_000_000.0,
    segment_id: int = 1,
    pts_offset: int = 0,
) -> list[BufferedPacket]:
    """``frames`` libx264 packets (decode order) with wall times from ``wall_zero``."""
    time_base = Fraction(1, spec.fps)
    return [
        BufferedPacket(
            data,
            pts + pts_offset,
            dts + pts_offset,
            duration,
            keyframe,
            wall_zero + float((pts + pts_offset) * time_base),
            segment_id,
        )
        for data, pts, dts, duration, keyframe in _encoded(spec, frames)
    ]
