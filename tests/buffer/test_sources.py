"""Sources on real media: the street recording replayed live over file://, a
short B-frame file looping with continuous timestamps, synthetic://.

Pacing runs on a virtual clock (time moves only when a source waits), so the
release times asserted are exact whatever the machine's load; one smoke test
runs on the real clock and checks only what load cannot change (a source
never runs ahead of real time)."""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av
import pytest

from eventclip.buffer.sources import PacingClock, SourceError, open_source
from eventclip.redact import redact_url

from .media import make_short_file


class VirtualClock:
    """Monotonic time that advances only by what a source waits for.
    ``stop_at``: the virtual time at which the stop event is set."""

    def __init__(self, stop_at: float | None = None) -> None:
        self.now = 0.0
        self.stop_at = stop_at

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if self.stop_at is not None and self.now + seconds >= self.stop_at:
            self.now = self.stop_at
            stop.set()
        else:
            self.now += seconds
        return stop.is_set()

    @property
    def pacing(self) -> PacingClock:
        return PacingClock(now=lambda: self.now, wait=self.wait)


def read_for(url: str, seconds: float) -> tuple[list, list[float], object]:
    """Packets released by ``url`` in its first ``seconds`` of virtual time,
    the virtual time each was released at, and the codec parameters."""
    stop = threading.Event()
    clock = VirtualClock()
    packets, released = [], []
    with open_source(url, stop, open_timeout=5, read_timeout=5, clock=clock.pacing) as source:
        for packet in source.packets:
            if clock.now > seconds:
                break
            packets.append(packet)
            released.append(clock.now)
        return packets, released, source.info.codec


def test_file_source_replays_the_street_recording_in_real_time(street_bikes: Path) -> None:
    with closing(av.open(str(street_bikes))) as container:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base)
        recorded = [p for p in container.demux(stream) if p.size]
    packets, released, info = read_for(f"file://{street_bikes}", 2.0)

    assert (info.codec_name, info.width, info.height) == ("h264", 640, 272)
    assert info.frame_rate == 25 and info.time_base == time_base and info.extradata
    # Live pacing: each packet is released when its dts is due, so two seconds
    # give two seconds of video (51 packets at 25 fps), not the whole 10 s file.
    due = [float((p.dts - packets[0].dts) * time_base) for p in packets]
    assert released == pytest.approx(due, abs=1e-9)
    assert len(packets) == 51 and due[-1] == pytest.approx(2.0)
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
        time_base = Fraction(stream.time_base)
    assert len(one_loop) == 12 and any(p.pts != p.dts for p in one_loop)

    packets, released, _ = read_for(f"file://{path}", 1.3)  # 0.48 s per loop
    assert len(packets) == 33  # 1.3 s at 25 fps: two loops and 9 packets of the third
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
    # Paced across loops too: the third loop starts 2 x 0.48 s after the first.
    assert released[24] - released[0] == pytest.approx(float(24 * frame_ticks * time_base))


def test_synthetic_source_encodes_in_real_time() -> None:
    packets, released, info = read_for("synthetic://320x180@15?gop=5", 1.0)
    assert (info.codec_name, info.width, info.height, info.frame_rate) == ("h264", 320, 180, 15)
    assert info.extradata.startswith(b"\x00\x00\x00\x01")  # Annex B SPS/PPS
    assert len(packets) == 16  # frames 0..15: frame i is due at i / 15 s
    assert released == pytest.approx([i / 15 for i in range(16)])
    assert [p.keyframe for p in packets[:10]] == [True, False, False, False, False] * 2
    assert [p.pts for p in packets] == list(range(len(packets)))


def test_stop_ends_a_paced_source_while_it_waits(street_bikes: Path) -> None:
    stop = threading.Event()
    clock = VirtualClock(stop_at=0.21)
    with open_source(f"file://{street_bikes}", stop, clock=clock.pacing) as source:
        first = next(source.packets)
        rest = list(source.packets)
    # Packets due up to 0.21 s (5 frames at 25 fps) came out; the wait for the
    # next one ended at the stop, and so did the source.
    assert first.keyframe and len(rest) == 5
    assert clock.now == 0.21


def test_a_paced_source_never_runs_ahead_of_the_real_clock(street_bikes: Path) -> None:
    stop = threading.Event()
    with open_source(f"file://{street_bikes}", stop) as source:
        time_base = source.info.codec.time_base
        started = time.monotonic()
        packets = list(itertools.islice(source.packets, 13))  # about half a second
        lag = [
            time.monotonic() - started - float((p.dts - packets[0].dts) * time_base)
            for p in packets
        ]
    # Late is allowed (a loaded machine); early never is.
    assert min(lag) >= -0.005


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
