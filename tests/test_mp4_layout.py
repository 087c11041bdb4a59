"""MP4 files laid out without FFmpeg's muxer (eventclip.media.mp4_boxes) and the
ring's H.264 in MP4 form (eventclip.buffer.bitstream), on real H.264 and HEVC
that libx264/libx265 encode here. What FFmpeg's muxer writes from the same
packets is the reference: the same samples and the same frames on screen."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta
from fractions import Fraction

import av
import numpy as np
import pytest

from eventclip.buffer.bitstream import mp4_form
from eventclip.buffer.cut import cut_window
from eventclip.buffer.ring import CodecParams
from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.media.mp4 import plan_mp4, remux_to_mp4
from eventclip.media.mp4_boxes import (
    Unsupported,
    annexb_to_length_prefixed,
    avcc_from_annexb,
    nal_units,
)
from eventclip.media.timelines import Timeline
from eventclip.testing import ring_input
from eventclip.timeutil import utcnow
from eventclip.v1 import buffer_pb2

from .clipper.media import first_frames, mp4_samples, synthetic_timeline

SPEC = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)


def test_annexb_nal_units_become_length_prefixed() -> None:
    aud, sei, idr = b"\x09\xf0", b"\x06\x05\x01\x80", b"\x65\x88\x84\x00\x03\x01\x21"
    # A 4-byte start code, a 3-byte one, then a 4-byte one: the zero before
    # 00 00 01 belongs to the start code, not to the NAL before it.
    annexb = b"\x00\x00\x00\x01" + aud + b"\x00\x00\x01" + sei + b"\x00\x00\x00\x01" + idr
    assert [annexb[a:b] for a, b in nal_units(annexb)] == [aud, sei, idr]
    assert annexb_to_length_prefixed(annexb) == b"".join(
        len(n).to_bytes(4, "big") + n for n in (aud, sei, idr)
    )
    with pytest.raises(Unsupported):
        annexb_to_length_prefixed(b"\x65\x88\x84")  # no start code at all


def test_avcc_record_from_annexb_parameter_sets() -> None:
    timeline = synthetic_timeline(SPEC, 3, utcnow())
    extradata = timeline.codec.extradata
    record = avcc_from_annexb(extradata)
    sps, pps = (extradata[a:b] for a, b in nal_units(extradata))
    assert record[:4] == bytes([1, sps[1], sps[2], sps[3]])  # version, profile, compat, level
    assert record[4] == 0xFF and record[5] == 0xE1  # 4-byte lengths, one SPS
    assert record[6:8] == len(sps).to_bytes(2, "big") and sps in record and pps in record
    with pytest.raises(Unsupported):
        avcc_from_annexb(b"\x00\x00\x00\x01" + pps)  # no SPS


@pytest.mark.parametrize("exact", [False, True])
def test_a_laid_out_mp4_holds_what_ffmpeg_muxes(exact: bool) -> None:
    t0 = utcnow()
    timeline = synthetic_timeline(SPEC, 6 * SPEC.fps, t0)
    start, event = t0 + timedelta(seconds=1.7), t0 + timedelta(seconds=3)
    muxed = io.BytesIO()
    expected = remux_to_mp4(
        [timeline], muxed, start_time=start, event_time=event, exact_start=exact
    )
    result, layout = plan_mp4([timeline], start_time=start, event_time=event, exact_start=exact)
    mp4 = b"".join(layout.buffers())

    assert len(mp4) == layout.size_bytes == result.size_bytes
    assert result == dataclasses.replace(expected, size_bytes=len(mp4))
    assert mp4[4:8] == b"ftyp" and mp4.index(b"moov") < mp4.index(b"mdat")  # faststart
    assert mp4_samples(mp4) == mp4_samples(muxed.getvalue())
    assert first_frames(mp4) == first_frames(muxed.getvalue())


def test_the_ring_keeps_h264_as_mp4_stores_it() -> None:
    timeline = synthetic_timeline(SPEC, 2 * SPEC.fps, utcnow())
    codec, packets = ring_input(timeline, 1_700_000_000.0)
    assert codec.extradata[:1] == b"\x01"  # an avcC record
    assert all(p.data[:4] != b"\x00\x00\x00\x01" for p in packets)

    def decoded(extradata: bytes, payloads: list[bytes]) -> list[np.ndarray]:
        ctx = av.CodecContext.create("h264", "r")
        ctx.extradata = extradata
        frames = [f for data in payloads for f in ctx.decode(av.Packet(data))]
        frames += ctx.decode(None)
        return [f.to_ndarray(format="gray") for f in frames]

    original = decoded(timeline.codec.extradata, [p.data for p in timeline.packets])
    converted = decoded(codec.extradata, [p.data for p in packets])
    assert len(original) == len(converted) == len(packets)
    assert all(np.array_equal(a, b) for a, b in zip(original, converted, strict=True))


def hevc_timeline(frames: int) -> Timeline:
    """HEVC from libx265 as a raw (Annex B) stream, as RTSP gives it."""
    out = io.BytesIO()
    with av.open(out, "w", format="hevc") as container:
        stream = container.add_stream("libx265", rate=SPEC.fps)
        stream.width, stream.height, stream.pix_fmt = SPEC.width, SPEC.height, "yuv420p"
        stream.options = {"x265-params": "log-level=error:keyint=15:bframes=0"}
        for i in range(frames):
            image = np.full((SPEC.height, SPEC.width, 3), (i * 7) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out.seek(0)
    with av.open(out, "r", format="hevc") as container:
        stream = container.streams.video[0]
        codec = buffer_pb2.CodecParameters(
            codec_name="hevc",
            extradata=bytes(stream.codec_context.extradata or b""),
            width=SPEC.width,
            height=SPEC.height,
            time_base_num=1,
            time_base_den=SPEC.fps,
            frame_rate_num=SPEC.fps,
            frame_rate_den=1,
            timeline_id=1,
        )
        packets = []
        for n, packet in enumerate(p for p in container.demux(stream) if p.size):
            packets.append(
                buffer_pb2.Packet(
                    data=bytes(packet), pts=n, dts=n, duration=1, keyframe=packet.is_keyframe
                )
            )
    return Timeline(codec, packets)


def test_hevc_in_annexb_is_cut_by_ffmpeg_instead() -> None:
    timeline = hevc_timeline(30)
    assert timeline.codec.extradata[:3] == b"\x00\x00\x01"  # Annex B parameter sets
    with pytest.raises(Unsupported):
        plan_mp4([timeline])
    ring_codec = CodecParams(
        "hevc",
        timeline.codec.extradata,
        SPEC.width,
        SPEC.height,
        Fraction(1, SPEC.fps),
        Fraction(SPEC.fps),
        "yuv420p",
        1,
    )
    assert mp4_form(ring_codec)[0] is ring_codec  # kept as it arrives
    codec, packets = ring_input(timeline, 1_700_000_000.0)
    cut = cut_window(
        [codec, packets],
        start_time=utcnow() - timedelta(days=3650),
        event_time=utcnow(),
        exact_start=False,
    )
    mp4 = b"".join(cut.buffers)
    samples, _duration = mp4_samples(mp4)
    assert len(samples) == len(packets) == cut.result.frame_count
    assert len(first_frames(mp4)) == 3


@pytest.mark.parametrize("exact", [False, True])
def test_durations_round_as_ffmpeg_rounds_them_for_any_window(exact: bool) -> None:
    """Edit list and movie durations are in milliseconds: how a fraction of a
    millisecond rounds decides the length players report. Windows of every
    length and start in a sweep must report FFmpeg's figure."""
    t0 = utcnow()
    timeline = synthetic_timeline(SPEC, 8 * SPEC.fps, t0)
    for n in range(16):
        start = t0 + timedelta(seconds=0.5 + 0.137 * n)
        window = Timeline(timeline.codec, timeline.packets[: 60 + 3 * n])
        muxed = io.BytesIO()
        remux_to_mp4([window], muxed, start_time=start, exact_start=exact)
        _result, layout = plan_mp4([window], start_time=start, exact_start=exact)
        laid_out = mp4_samples(b"".join(layout.buffers()))
        assert laid_out == mp4_samples(muxed.getvalue()), (n, laid_out[1])
