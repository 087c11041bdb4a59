"""Exact start: the GOP before the requested start stays in the MP4 but an edit
list hides its frames before that instant. Checked by reading the ``elst`` box
and by decoding with PyAV, which honours edit lists."""

from __future__ import annotations

import struct
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.media.mp4 import remux_to_mp4
from eventclip.media.timelines import Timeline, wall_seconds

from .media import recording_timeline, synthetic_timeline

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
SPEC = SyntheticSpec(width=640, height=360, fps=15, gop_frames=15)
CONTAINERS = {b"moov", b"trak", b"edts", b"mdia", b"minf", b"stbl"}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, bytes]:
    """Box type -> payload, descending into the containers on the way to
    ``elst`` and ``mdhd`` (ISO/IEC 14496-12 4.2; one video track)."""
    found: dict[bytes, bytes] = {}
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, i + 8)
            header = 16
        found[kind] = data[i + header : i + size]
        if kind in CONTAINERS:
            found.update(boxes(data, i + header, i + size))
        i += size
    return found


def edit_list(path: Path) -> tuple[list[tuple[int, int]], int, int]:
    """(elst entries as (segment duration, media time), movie timescale, media timescale)."""
    found = boxes(path.read_bytes())
    elst, mvhd, mdhd = found[b"elst"], found[b"mvhd"], found[b"mdhd"]
    version, count = elst[0], struct.unpack_from(">I", elst, 4)[0]
    form, step = (">qq", 20) if version == 1 else (">Ii", 12)
    entries = [struct.unpack_from(form, elst, 8 + n * step) for n in range(count)]
    scale = ">I" if mvhd[0] == 0 else ">4xI"
    movie = struct.unpack_from(scale, mvhd, 12 if mvhd[0] == 0 else 16)[0]
    media = struct.unpack_from(">I", mdhd, 12 if mdhd[0] == 0 else 20)[0]
    return [(int(d), int(t)) for d, t in entries], movie, media


def frames_of(path: Path) -> list[av.VideoFrame]:
    with closing(av.open(str(path))) as container:
        return list(container.decode(video=0))


def pixels(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def on_screen(window: Timeline, start: datetime):
    """The source packet presented at ``start``: the latest at or before it."""
    return max(
        (p for p in window.packets if wall_seconds(p) <= start.timestamp()), key=lambda p: p.pts
    )


def test_exact_start_hides_the_lead_in_with_an_edit_list(tmp_path: Path) -> None:
    window = synthetic_timeline(SPEC, 60, T0)  # keyframes at frames 0, 15, 30, 45
    start = T0 + timedelta(seconds=1.5)  # frame 22 (1.467 s) is on screen then
    exact = tmp_path / "exact.mp4"

    result = remux_to_mp4([window], exact, start_time=start, exact_start=True)

    assert result.media_start_time == pytest.approx(
        T0 + timedelta(seconds=22 / 15), abs=timedelta(milliseconds=1)
    )
    assert timedelta(0) <= start - result.media_start_time < timedelta(seconds=1 / 15)
    assert result.first_is_keyframe
    assert result.frame_count == 45  # frames 15..59 are in the file
    assert result.duration_seconds == pytest.approx(38 / 15)  # frames 22..59 are played
    assert result.media_end_time == T0 + timedelta(seconds=4)
    entries, movie_scale, media_scale = edit_list(exact)
    assert len(entries) == 1
    duration, media_time = entries[0]
    assert media_time / media_scale == pytest.approx(7 / 15)  # frames 15..21 hidden
    assert duration / movie_scale == pytest.approx(38 / 15, abs=1e-3)

    shown = frames_of(exact)
    everything = (
        frames_of(tmp_path / "all.mp4") if remux_to_mp4([window], tmp_path / "all.mp4") else []
    )
    assert len(shown) == 38
    assert float(shown[0].pts * shown[0].time_base) == pytest.approx(0, abs=1e-6)
    assert np.array_equal(pixels(shown[0]), pixels(everything[22]))
    assert not np.array_equal(pixels(shown[0]), pixels(everything[21]))
    assert all(
        np.array_equal(pixels(a), pixels(b)) for a, b in zip(shown, everything[22:], strict=True)
    )


def test_keyframe_trim_keeps_the_whole_gop(tmp_path: Path) -> None:
    window = synthetic_timeline(SPEC, 60, T0)
    start = T0 + timedelta(seconds=1.5)
    result = remux_to_mp4([window], tmp_path / "k.mp4", start_time=start)

    assert result.media_start_time == T0 + timedelta(seconds=1)
    assert (result.frame_count, result.duration_seconds) == (45, pytest.approx(3.0))
    entries, _, _ = edit_list(tmp_path / "k.mp4")
    assert [t for _, t in entries] == [0]  # nothing hidden
    assert len(frames_of(tmp_path / "k.mp4")) == 45


def test_exact_start_on_a_recording_with_b_frames(street_bikes: Path, tmp_path: Path) -> None:
    window = recording_timeline(street_bikes, T0)
    assert any(p.pts != p.dts for p in window.packets)  # B-frames reorder
    start = T0 + timedelta(seconds=2.01)  # mid-GOP, between frames; keyframe at 1.2 s
    expected = on_screen(window, start)
    keyframe = max(
        (p for p in window.packets if p.keyframe and wall_seconds(p) <= start.timestamp()),
        key=lambda p: p.pts,
    )
    assert expected.pts > keyframe.pts
    exact, everything = tmp_path / "exact.mp4", tmp_path / "all.mp4"

    result = remux_to_mp4([window], exact, start_time=start, exact_start=True)
    remux_to_mp4(
        [window], everything, start_time=datetime.fromtimestamp(wall_seconds(keyframe), UTC)
    )

    frame_duration = 1 / 25
    assert result.media_start_time == datetime.fromtimestamp(wall_seconds(expected), UTC)
    assert 0 <= (start - result.media_start_time).total_seconds() < frame_duration
    shown, source = frames_of(exact), frames_of(everything)
    lead_in = wall_seconds(expected) - wall_seconds(keyframe)
    times = [round(float(f.pts * f.time_base), 3) for f in source]
    first = times.index(round(lead_in, 3))  # the source frame on screen at start
    assert float(shown[0].pts * shown[0].time_base) == pytest.approx(0, abs=1e-3)
    assert np.array_equal(pixels(shown[0]), pixels(source[first]))
    assert len(shown) == len(source) - first
    assert result.duration_seconds == pytest.approx(
        sum(1 for _ in shown) * frame_duration, abs=2 * frame_duration
    )
