"""Recovering the timestamps FFmpeg's RTSP demuxer leaves out after a connect,
on real libx264 packets (with and without B-frames) whose timestamps are
removed the way the demuxer removes them: none on the keyframe, no dts on the
next ``reorder_depth`` packets (the RTSP server test shows the real thing)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import av
import pytest

from eventclip.buffer.timestamps import complete_timestamps

from .media import make_short_file


def demuxed(path: Path) -> tuple[list[av.Packet], int]:
    """The file's packets (decode order) and its reorder depth."""
    with closing(av.open(str(path))) as container:
        stream = container.streams.video[0]
        return [p for p in container.demux(stream) if p.size], stream.codec_context.reorder_depth


def as_after_connect(packets: list[av.Packet], reorder_depth: int) -> list[av.Packet]:
    """The packets as FFmpeg's RTSP demuxer hands them out after a connect."""
    packets[0].pts = packets[0].dts = None
    for packet in packets[1 : 1 + reorder_depth]:
        packet.dts = None
    return packets


@pytest.mark.parametrize("b_frames", [2, 0])
def test_the_first_gop_gets_back_the_timestamps_it_was_encoded_with(
    tmp_path: Path, b_frames: int
) -> None:
    packets, depth = demuxed(make_short_file(tmp_path / "s.mp4", 24, gop=12, b_frames=b_frames))
    assert depth == b_frames
    original = [(p.pts, p.dts, p.is_keyframe, bytes(p)) for p in packets]
    stripped = as_after_connect(packets, depth)
    assert stripped[0].pts is None and stripped[depth].dts is None

    completed = list(complete_timestamps(stripped, reorder_depth=depth, frame_duration=None))

    assert [(p.pts, p.dts, p.keyframe, p.data) for p in completed] == original
    arrivals = [p.arrival for p in completed]
    assert arrivals == sorted(arrivals)


def test_frame_duration_comes_from_the_stream_when_packets_carry_none(tmp_path: Path) -> None:
    packets, depth = demuxed(make_short_file(tmp_path / "s.mp4", 24, gop=12))
    tick = packets[0].duration
    original = [(p.pts, p.dts) for p in packets]
    for packet in packets:
        packet.duration = 0
    completed = complete_timestamps(
        as_after_connect(packets, depth), reorder_depth=depth, frame_duration=tick
    )
    assert [(p.pts, p.dts) for p in completed] == original


def test_a_gop_whose_recovery_does_not_add_up_is_dropped_not_mistimed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    packets, depth = demuxed(make_short_file(tmp_path / "s.mp4", 24, gop=12))
    original = [(p.pts, p.dts) for p in packets]
    # A wrong reorder depth would put the keyframe one frame early.
    completed = list(
        complete_timestamps(as_after_connect(packets, depth), reorder_depth=1, frame_duration=None)
    )
    assert [(p.pts, p.dts) for p in completed] == original[12:]
    assert completed[0].keyframe
    assert "do not fit the packets after it" in caplog.text


def test_without_a_frame_duration_the_gop_is_dropped(tmp_path: Path) -> None:
    packets, depth = demuxed(make_short_file(tmp_path / "s.mp4", 24, gop=12))
    for packet in packets:
        packet.duration = 0
    completed = list(
        complete_timestamps(
            as_after_connect(packets, depth), reorder_depth=depth, frame_duration=None
        )
    )
    assert len(completed) == 12 and completed[0].keyframe


def test_a_packet_missing_timestamps_mid_gop_drops_the_rest_of_its_gop(tmp_path: Path) -> None:
    packets, depth = demuxed(make_short_file(tmp_path / "s.mp4", 24, gop=12))
    original = [(p.pts, p.dts) for p in packets]
    packets[5].pts = packets[5].dts = None
    completed = complete_timestamps(packets, reorder_depth=depth, frame_duration=None)
    assert [(p.pts, p.dts) for p in completed] == original[:5] + original[12:]
