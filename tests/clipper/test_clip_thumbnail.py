"""Thumbnails: one keyframe decoded, letterboxed to 320x240, JPEG (decoded back here)."""

from __future__ import annotations

import io
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.thumbnail import ThumbnailError, make_thumbnail, nearest_keyframe
from eventclip.media.pictures import fit_inside, scaled_size
from eventclip.media.timelines import Timeline

from .media import recording_timeline, synthetic_timeline

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


def decode_jpeg(data: bytes) -> tuple[str, np.ndarray]:
    """(codec name, RGB pixels) of a JPEG, decoded by FFmpeg."""
    with closing(av.open(io.BytesIO(data))) as container:
        frame = next(container.decode(video=0))
        return container.streams.video[0].codec_context.name, frame.to_ndarray(format="rgb24")


def test_fit_inside_keeps_the_aspect_ratio() -> None:
    assert fit_inside(1920, 1080, 320, 240) == (320, 180)
    assert fit_inside(640, 272, 320, 240) == (320, 136)
    assert fit_inside(480, 640, 320, 240) == (180, 240)
    assert fit_inside(320, 240, 320, 240) == (320, 240)


def test_scaled_size_shrinks_to_a_width_and_never_enlarges() -> None:
    assert scaled_size(1920, 1080, 640) == (640, 360)
    assert scaled_size(1920, 1080, 0) == (1920, 1080)
    assert scaled_size(640, 360, 1280) == (640, 360)
    assert scaled_size(1280, 720, 333) == (332, 188)  # even, within the width


def test_thumbnail_is_the_keyframe_nearest_the_event() -> None:
    spec = SyntheticSpec(width=640, height=360, fps=15, gop_frames=15)
    window = synthetic_timeline(spec, 60, T0)  # keyframes: frames 0, 15, 30, 45
    event = T0 + timedelta(seconds=2.4)  # nearer frame 30 (2.0 s) than frame 45 (3.0 s)

    thumb = make_thumbnail([window], event)

    assert thumb.keyframe_time == T0 + timedelta(seconds=2)
    assert (thumb.width, thumb.height) == (320, 240)
    codec, rgb = decode_jpeg(thumb.jpeg)
    assert codec == "mjpeg"
    assert rgb.shape == (240, 320, 3)
    # Synthetic frame i has blue level (7 * i) % 256: frame 30 -> 210 (15 -> 105, 45 -> 59).
    picture = rgb[40:200, 20:300, 2]
    assert picture.mean() == pytest.approx(210, abs=8)
    # 640x360 -> 320x180 leaves 30-pixel bars top and bottom.
    assert rgb[:28].max() < 20 and rgb[212:].max() < 20


def test_letterbox_bars_are_black_for_a_wide_source(street_bikes: Path) -> None:
    window = recording_timeline(street_bikes, T0)  # 640x272
    thumb = make_thumbnail([window], T0 + timedelta(seconds=5))
    _, rgb = decode_jpeg(thumb.jpeg)
    assert rgb.shape == (240, 320, 3)
    # 640x272 -> 320x136: 52 rows of black above and below (JPEG ringing aside).
    assert rgb[:50].max() < 24 and rgb[190:].max() < 24
    assert rgb[56:184].mean() > 40  # the street itself is not black
    keyframes = [p.wall_time.ToDatetime(UTC) for p in window.packets if p.keyframe]
    expected = min(keyframes, key=lambda t: abs((t - (T0 + timedelta(seconds=5))).total_seconds()))
    assert thumb.keyframe_time == expected


def test_no_keyframe_is_an_error() -> None:
    spec = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)
    window = synthetic_timeline(spec, 10, T0)
    inter_only = Timeline(window.codec, [p for p in window.packets if not p.keyframe])
    with pytest.raises(ThumbnailError, match="no keyframe"):
        nearest_keyframe([inter_only], T0)
