"""What our own tests and benchmarks share, and a third party's may use:
real packets put into a buffer ring as a camera would deliver them."""

from __future__ import annotations

from fractions import Fraction

from eventclip.buffer.bitstream import mp4_form
from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.media.timelines import Timeline


def ring_input(
    timeline: Timeline, first_wall: float, *, timeline_id: int = 1
) -> tuple[CodecParams, list[BufferedPacket]]:
    """``timeline`` as buffer ring entries of ``timeline_id`` whose first packet
    is at ``first_wall`` (epoch seconds): what an ingest thread would append
    (H.264 in the MP4 form, ``eventclip.buffer.bitstream``)."""
    codec = timeline.codec
    time_base = Fraction(codec.time_base_num, codec.time_base_den)
    params = CodecParams(
        codec_name=codec.codec_name,
        extradata=codec.extradata,
        width=codec.width,
        height=codec.height,
        time_base=time_base,
        frame_rate=Fraction(codec.frame_rate_num, codec.frame_rate_den),
        pix_fmt=codec.pix_fmt,
        timeline_id=timeline_id,
    )
    params, to_mp4_form = mp4_form(params)
    base = timeline.packets[0].pts
    packets = [
        BufferedPacket(
            data=to_mp4_form(p.data),
            pts=p.pts,
            dts=p.dts,
            duration=p.duration,
            keyframe=p.keyframe,
            wall_time=first_wall + float((p.pts - base) * time_base),
            timeline_id=timeline_id,
        )
        for p in timeline.packets
    ]
    return params, packets
