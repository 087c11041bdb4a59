"""Real H.264 windows in the buffer's wire format, for the clipper tests.

Packets come from libx264 (``SyntheticEncoder``) or from demuxing the real
street recording, and are wrapped as ``eventclip.v1`` Packets with wall-clock
times, exactly what BufferService.ReadWindow sends.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av

from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec
from eventclip.clipper.remux import Segment
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2


def proto_packet(packet: av.Packet, time_base: Fraction, wall_zero: datetime) -> buffer_pb2.Packet:
    """``packet`` as a proto Packet; wall time = wall_zero + pts * time_base."""
    return buffer_pb2.Packet(
        data=bytes(packet),
        pts=packet.pts,
        dts=packet.dts,
        duration=packet.duration or 0,
        keyframe=packet.is_keyframe,
        wall_time=to_timestamp(wall_zero + timedelta(seconds=float(packet.pts * time_base))),
    )


def synthetic_segment(
    spec: SyntheticSpec,
    frames: int,
    wall_zero: datetime,
    *,
    segment_id: int = 1,
    first_pts: int = 0,
) -> Segment:
    """``frames`` frames of ``spec`` encoded by libx264 (pts/dts = frame index +
    ``first_pts``, time_base 1/fps), first frame at ``wall_zero``."""
    encoder = SyntheticEncoder(spec)
    tb = encoder.time_base
    packets = []
    for packet in encoder.packets(frames):
        packet.pts += first_pts
        packet.dts += first_pts
        packets.append(
            proto_packet(packet, tb, wall_zero - timedelta(seconds=float(first_pts * tb)))
        )
    codec = buffer_pb2.CodecParameters(
        codec_name="h264",
        extradata=encoder.extradata,
        width=spec.width,
        height=spec.height,
        time_base_num=tb.numerator,
        time_base_den=tb.denominator,
        frame_rate_num=spec.fps,
        frame_rate_den=1,
        segment_id=segment_id,
        pix_fmt="yuv420p",
    )
    return Segment(codec, packets)


def recording_segment(path: Path, wall_zero: datetime) -> Segment:
    """Every video packet of a recording (demuxed, not decoded) with its codec
    parameters; the packet at pts 0 is at ``wall_zero``."""
    with closing(av.open(str(path))) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        ctx = stream.codec_context
        codec = buffer_pb2.CodecParameters(
            codec_name=ctx.name,
            extradata=bytes(ctx.extradata or b""),
            width=ctx.width,
            height=ctx.height,
            time_base_num=tb.numerator,
            time_base_den=tb.denominator,
            frame_rate_num=stream.average_rate.numerator,
            frame_rate_den=stream.average_rate.denominator,
            segment_id=1,
            pix_fmt=ctx.pix_fmt or "",
        )
        packets = [
            proto_packet(p, tb, wall_zero)
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]
    return Segment(codec, packets)
