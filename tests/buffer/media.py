"""Real H.264 packets for the buffer tests, as the ring holds them.

``synthetic_packets`` encodes frames with libx264 (SyntheticEncoder) and stamps
them like an ingest thread would: wall = wall_zero + pts x time_base.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

import av

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec, draw_frame


@functools.cache
def _encoded(spec: SyntheticSpec, frames: int) -> tuple[tuple[bytes, int, int, int, bool], ...]:
    """Encoded once per (spec, frames): libx264 output is what tests share."""
    encoder = SyntheticEncoder(spec)
    return tuple(
        (bytes(p), p.pts, p.dts, p.duration or 1, p.is_keyframe) for p in encoder.packets(frames)
    )


def codec_for(spec: SyntheticSpec, timeline_id: int) -> CodecParams:
    encoder_extradata = SyntheticEncoder(spec).extradata
    return CodecParams(
        codec_name="h264",
        extradata=encoder_extradata,
        width=spec.width,
        height=spec.height,
        time_base=Fraction(1, spec.fps),
        frame_rate=Fraction(spec.fps),
        pix_fmt="yuv420p",
        timeline_id=timeline_id,
    )


def synthetic_packets(
    spec: SyntheticSpec,
    frames: int,
    *,
    wall_zero: float = 1_700_000_000.0,
    timeline_id: int = 1,
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
            timeline_id,
        )
        for data, pts, dts, duration, keyframe in _encoded(spec, frames)
    ]


def make_short_file(path: Path, frames: int = 12, gop: int = 4, b_frames: int = 2) -> Path:
    """An MP4 of ``frames`` frames at 25 fps, keyframe every ``gop``, with
    ``b_frames`` B-frames between references (libx264)."""
    spec = SyntheticSpec(width=160, height=96, fps=25)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264",
            rate=25,
            options={
                "g": str(gop),
                "keyint_min": str(gop),
                "sc_threshold": "0",
                "bf": str(b_frames),
            },
        )
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(spec, i), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decoded_pts(packets: list[BufferedPacket], extradata: bytes) -> list[int]:
    """pts of the frames libavcodec's H.264 decoder makes of ``packets``
    (decode order, from a keyframe), in output order."""
    decoder = av.CodecContext.create("h264", "r")
    decoder.extradata = extradata
    frames = []
    for p in packets:
        packet = av.Packet(p.data)
        packet.pts, packet.dts = p.pts, p.dts
        frames += decoder.decode(packet)
    frames += decoder.decode(None)
    assert frames and frames[0].key_frame
    return [f.pts for f in frames]
