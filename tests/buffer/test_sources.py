"""Sources on real media: the street recording replayed live over file://, a
short B-frame file looping with continuous timestamps, synthetic://."""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av
import pytest

from eventclip.buffer.sources import SourceError, open_source, redact_url
from eventclip.buffer.synthetic import SyntheticSpec, draw_frame


def read_for(url: str, seconds: float) -> tuple[list, list[float], object]:
    """Packets read from ``url`` for ``seconds``, their arrival times, the info."""
    stop = threading.Event()
    packets, arrivals = [], []
    with open_source(url, stop, open_timeout=5, read_timeout=5) as source:
        deadline = time.monotonic() + seconds
        for packet in source.packets:
            packets.append(packet)
            arrivals.append(time.monotonic())
            if time.monotonic() >= deadline:
                break
        return packets, arrivals, source.info.codec


def make_short_file(path: Path, frames: int = 12, gop: int = 4) -> Path:
    """An MP4 of ``frames`` frames at 25 fps, keyframe every ``gop``, with B-frames."""
    spec = SyntheticSpec(width=160, height=96, fps=25)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264",
            rate=25,
            options={"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2"},
        )
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(spec, i), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_file_source_replays_the_street_recording_in_real_time(street_bikes: Path) -> None:
    with closing(av.open(str(street_bikes))) as container:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base)
        recorded = [p for p in container.demux(stream) if p.size]
    packets, arrivals, info = read_for(f"file://{street_bikes}", 2.0)

    assert (info.codec_name, info.width, info.height) == ("h264", 640, 272)
    assert info.frame_rate == 25 and info.time_base == time_base and info.extradata
    # Live pacing: two seconds of reading give about two seconds of video,
    # not the whole 10 s file.
    span = float((packets[-1].dts - packets[0].dts) * time_base)
    assert 1.7 <= span <= 2.3
    assert 40 <= len(packets) <= 60
    assert arrivals[-1] - arrivals[0] == pytest.approx(span, abs=0.25)
    # Unchanged packets and keyframes where the recording has them.
    for got, want in zip(packets, recorded, strict=False):
        assert (got.pts, got.dts, got.keyframe) == (want.pts, want.dts, want.is_keyframe)
        assert got.data == bytes(want)
    assert packets[0].keyframe


def test_file_source_loops_with_continuous_timestamps(tmp_path: Path) -> None:
    path = make_short_file(tmp_path / "short.mp4", frames=12, gop=4)
    with closing(av.open(str(path))) as container:
        stream = container.streams.video[0]
        one_loop = [p for p in container.demux(stream) if p.size]
        frame_ticks = one_loop[0].duration
    assert len(one_loop) == 12 and any(p.pts != p.dts for p in one_loop)

    packets, arrivals, _ = read_for(f"file://{path}", 1.3)  # 0.48 s per loop
    assert len(packets) >= 30  # more than two loops
    dts = [p.dts for p in packets]
    assert all(b - a == frame_ticks for a, b in itertools.pairwise(dts))
    pts = [p.pts for p in packets]
    assert len(set(pts)) == len(pts)
    loop_ticks = 12 * frame_ticks
    for i, packet in enumerate(packets):
        original = one_loop[i % 12]
        shift = (i // 12) * loop_ticks
        assert (packet.pts, packet.dts) == (original.pts + shift, original.dts + shift)
        assert packet.keyframe == original.is_keyframe
        assert packet.data == bytes(original)
    # Paced: the third loop starts about 2 x 0.48 s after the first.
    assert arrivals[24] - arrivals[0] == pytest.approx(0.96, abs=0.15)


def test_synthetic_source_encodes_in_real_time() -> None:
    packets, _arrivals, info = read_for("synthetic://320x180@15?gop=5", 1.0)
    assert (info.codec_name, info.width, info.height, info.frame_rate) == ("h264", 320, 180, 15)
    assert info.extradata.startswith(b"\x00\x00\x00\x01")  # Annex B SPS/PPS
    assert 13 <= len(packets) <= 18
    assert [p.keyframe for p in packets[:10]] == [True, False, False, False, False] * 2
    assert [p.pts for p in packets] == list(range(len(packets)))


def test_stop_ends_a_paced_source_promptly(street_bikes: Path) -> None:
    stop = threading.Event()
    with open_source(f"file://{street_bikes}", stop) as source:
        next(source.packets)
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        rest = list(source.packets)
    assert time.monotonic() - started < 0.6
    assert len(rest) < 20


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///nonexistent/clip.mp4", "No such file"),
        ("synthetic://7x5", "even"),
        ("ftp://camera/stream", "unsupported source scheme"),
        ("rtsp://127.0.0.1:1/cam", "cannot open source"),
    ],
)
def test_sources_that_cannot_open_raise_source_error(url: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        with open_source(url, threading.Event(), open_timeout=2, read_timeout=2):
            pass


def test_passwords_are_redacted_from_urls() -> None:
    assert (
        redact_url("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101")
        == "rtsp://admin:***@10.0.0.5:554/Streaming/101"
    )
    assert redact_url("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"
