"""FrameSampler on its own, on libx264 packets made in the test: what it
decodes for a rate between the keyframe rate and the frame rate, and that
the pictures it sends are the ones a full decode of the GOP gives."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.sampling import FrameSampler, SampledFrame
from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.media import pictures

from .media import codec_for, make_short_file, synthetic_packets

WALL_ZERO = 1_700_000_000.0


def sample(
    sampler: FrameSampler, packets: list[BufferedPacket], codec: CodecParams, chunk: int = 7
) -> list[SampledFrame]:
    """Feed ``packets`` in chunks, as the service does, and collect the frames."""
    frames: list[SampledFrame] = []
    for i in range(0, len(packets), chunk):
        frames += sampler.feed(packets[i : i + chunk], {codec.timeline_id: codec})
    return frames


def full_decode(packets: list[BufferedPacket], codec: CodecParams) -> dict[float, np.ndarray]:
    """Every picture of ``packets`` by wall time, decoded the sampler's way
    (no loop filter) but with nothing skipped."""
    decoder = pictures.new_decoder(codec.codec_name, codec.extradata, skip_loop_filter=True)
    wall_by_pts = {p.pts: p.wall_time for p in packets}
    out = {}
    for packet in [*packets, None]:
        av_packet = None
        if packet is not None:
            av_packet = av.Packet(packet.data)
            av_packet.pts, av_packet.dts = packet.pts, packet.dts
        for frame in pictures.decode(decoder, [av_packet]):
            out[wall_by_pts[frame.pts]] = pictures.rgb_array(frame)
    return out


def test_one_fps_decodes_each_gop_only_up_to_its_last_frame_due() -> None:
    spec = SyntheticSpec(width=320, height=180, fps=25, gop_frames=50)  # 2 s GOPs
    packets = synthetic_packets(spec, 200, wall_zero=WALL_ZERO)
    codec = codec_for(spec, 1)
    sampler = FrameSampler(fps=1, max_width=0)
    sampler.set_gop_seconds(2.0)
    frames = sample(sampler, packets, codec)

    assert [round(f.wall_time - WALL_ZERO, 3) for f in frames] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [f.keyframe for f in frames] == [True, False] * 4
    # Each 50-frame GOP: the keyframe and the 25 frames up to 1 s, not the 24 after.
    assert sampler.packets_decoded == 4 * 26
    reference = full_decode(packets, codec)
    for frame in frames:
        assert np.array_equal(frame.rgb, reference[frame.wall_time])


def test_pictures_not_due_are_skipped_only_when_nothing_refers_to_them(tmp_path: Path) -> None:
    """B-frames (libx264 with 3 between references, b-pyramid): the sampler
    lets FFmpeg skip the non-reference pictures it does not send; the ones it
    sends are still exactly the full decode's."""
    path = make_short_file(tmp_path / "b.mp4", frames=100, gop=50, b_frames=3)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        demuxed = [p for p in container.demux(stream) if p.size]
        extradata = stream.codec_context.extradata or b""
        first_pts = min(p.pts for p in demuxed)
        packets = [
            BufferedPacket(
                bytes(p),
                p.pts,
                p.dts,
                p.duration or 1,
                p.is_keyframe,
                WALL_ZERO + float((p.pts - first_pts) * time_base),
                1,
            )
            for p in demuxed
        ]
    assert any(p.pts != p.dts for p in packets)  # display order differs: B-frames
    codec = CodecParams("h264", extradata, 160, 96, time_base, Fraction(25), "yuv420p", 1)
    sampler = FrameSampler(fps=5, max_width=0)
    sampler.set_gop_seconds(2.0)
    frames = sample(sampler, packets, codec)

    steps = [round(b.wall_time - a.wall_time, 3) for a, b in itertools.pairwise(frames)]
    assert steps and set(steps) == {0.2}, steps
    assert len(frames) == 20
    # Non-reference B-frames not due were skipped (a few more wait in the decoder).
    assert sampler.pictures_decoded <= sampler.packets_decoded - 10
    reference = full_decode(packets, codec)
    for frame in frames:
        assert np.array_equal(frame.rgb, reference[frame.wall_time])


def test_without_the_loop_filter_pictures_stay_close_to_a_full_decode() -> None:
    spec = SyntheticSpec(width=640, height=360, fps=25, gop_frames=50, bitrate=1_000_000)
    packets = synthetic_packets(spec, 50, wall_zero=WALL_ZERO)
    codec = codec_for(spec, 1)
    sampler = FrameSampler(fps=5, max_width=0)
    sampler.set_gop_seconds(2.0)
    frames = sample(sampler, packets, codec)
    decoder = pictures.new_decoder(codec.codec_name, codec.extradata)
    filtered = {}
    for packet in packets:
        av_packet = av.Packet(packet.data)
        av_packet.pts, av_packet.dts = packet.pts, packet.dts
        for frame in pictures.decode(decoder, [av_packet]):
            filtered[WALL_ZERO + float(frame.pts * codec.time_base)] = pictures.rgb_array(frame)
    for frame in frames:
        error = (frame.rgb.astype(float) - filtered[frame.wall_time]) ** 2
        psnr = 10 * np.log10(255**2 / max(error.mean(), 1e-9))
        assert psnr > 35, (frame.wall_time, psnr)
