"""H.264 packets kept in the form MP4 stores them, converted once at ingest.

RTSP (FFmpeg's RTP depacketizer) and raw H.264 give Annex B: NAL units after
start codes, parameter sets as Annex B extradata. MP4 stores each NAL unit after
its length and the parameter sets in an avcC record (ISO/IEC 14496-15). Doing
that conversion in the ingest thread, packet by packet as it arrives, costs a
scan of each packet for start codes (~1 ms per second of a 4 Mbps camera here)
and takes it off the path of every clip: a past window is then laid out and
written with no pass over its 30 MB but the hash (``eventclip.media.mp4_boxes``),
and FFmpeg's muxer (live clips) copies the packets as they are. Nothing is
decoded. HEVC in Annex B is kept as it arrives (its hvcC record is not built
here; FFmpeg's muxer converts it when a clip is written).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from eventclip.buffer.ring import CodecParams
from eventclip.media.mp4_boxes import Unsupported, annexb_to_length_prefixed, avcc_from_annexb


def _unchanged(data: bytes) -> bytes:
    return data


def mp4_form(codec: CodecParams) -> tuple[CodecParams, Callable[[bytes], bytes]]:
    """(codec parameters, packet converter) for a source's stream: H.264 whose
    extradata holds Annex B SPS and PPS gets an avcC record and a converter to
    length-prefixed NAL units; anything else is kept as it is. The converter
    raises Unsupported for a packet with no start code (nothing to keep)."""
    extradata = bytes(codec.extradata)
    if codec.codec_name != "h264" or not extradata or extradata[:1] == b"\x01":
        return codec, _unchanged
    try:
        avcc = avcc_from_annexb(extradata)
    except Unsupported:  # parameter sets only in-band: FFmpeg's muxer copes
        return codec, _unchanged
    return dataclasses.replace(codec, extradata=avcc), annexb_to_length_prefixed
