"""Stream-copy remux of real H.264 windows into MP4, checked by decoding the MP4."""

from __future__ import annotations

import itertools
import struct
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.live import LiveRemux
from eventclip.media.mp4 import RemuxError, remux_to_mp4
from eventclip.media.timelines import Timeline
from eventclip.v1 import buffer_pb2

from .media import recording_timeline, synthetic_timeline

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
SPEC = SyntheticSpec(width=640, height=360, fps=15, gop_frames=15)


def top_level_boxes(path: Path) -> list[str]:
    """MP4 box types at the top level, in file order (ISO/IEC 14496-12 4.2)."""
    data = path.read_bytes()
    boxes, i = [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, i)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, i + 8)
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        i += size
    return boxes


def decoded_frames(path: Path) -> list[av.VideoFrame]:
    with closing(av.open(str(path))) as container:
        return list(container.decode(video=0))


@pytest.fixture(scope="module")
def window() -> Timeline:
    """4 s of 640x360 at 15 fps, keyframes every second (frames 0, 15, 30, 45)."""
    return synthetic_timeline(SPEC, 60, T0)


def test_snaps_back_to_the_keyframe_before_start(window: Timeline, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    result = remux_to_mp4([window], out, start_time=T0 + timedelta(seconds=1.5))

    # Keyframe at 1.0 s (frame 15) is the last at or before 1.5 s: 45 frames remain.
    assert result.frame_count == 45
    assert result.first_is_keyframe
    assert result.media_start_time == T0 + timedelta(seconds=1)
    assert result.media_end_time == T0 + timedelta(seconds=4)
    assert result.duration_seconds == pytest.approx(3.0)
    assert (result.codec_name, result.width, result.height) == ("h264", 640, 360)
    assert result.size_bytes == out.stat().st_size
    assert result.note == ""

    frames = decoded_frames(out)
    assert len(frames) == 45
    assert frames[0].key_frame
    times = [float(f.pts * f.time_base) for f in frames]
    assert times[0] == 0
    assert all(b - a == pytest.approx(1 / 15, abs=1e-3) for a, b in itertools.pairwise(times))
    # The first picture is frame 15 of the source: its blue level is (15 * 7) % 256.
    assert frames[0].to_ndarray(format="rgb24")[..., 2].mean() == pytest.approx(105, abs=6)
    with closing(av.open(str(out))) as container:
        assert float(container.duration / av.time_base) == pytest.approx(3.0, abs=0.01)


def test_start_before_the_first_keyframe_keeps_everything(window: Timeline, tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    result = remux_to_mp4([window], out, start_time=T0 - timedelta(seconds=5))
    assert result.frame_count == 60
    assert result.media_start_time == T0
    assert len(decoded_frames(out)) == 60


def test_start_exactly_on_a_keyframe_starts_there(window: Timeline, tmp_path: Path) -> None:
    result = remux_to_mp4([window], tmp_path / "c.mp4", start_time=T0 + timedelta(seconds=2))
    assert result.media_start_time == T0 + timedelta(seconds=2)
    assert result.frame_count == 30


def test_faststart_puts_moov_before_mdat_and_leaves_no_temp_file(
    window: Timeline, tmp_path: Path
) -> None:
    out = tmp_path / "clip.mp4"
    remux_to_mp4([window], out)
    boxes = top_level_boxes(out)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_window_without_keyframe_fails_and_writes_nothing(
    window: Timeline, tmp_path: Path
) -> None:
    no_keyframe = Timeline(window.codec, [p for p in window.packets if not p.keyframe])
    with pytest.raises(RemuxError, match="no keyframe"):
        remux_to_mp4([no_keyframe], tmp_path / "clip.mp4")
    with pytest.raises(RemuxError, match="no packets"):
        remux_to_mp4([Timeline(window.codec, [])], tmp_path / "clip.mp4")
    assert list(tmp_path.iterdir()) == []


def test_two_timelines_with_the_same_codec_continue_the_timeline(tmp_path: Path) -> None:
    first = synthetic_timeline(SPEC, 30, T0, timeline_id=1)
    # After a reconnect: new encoder, timestamps restart far away, 5 s wall-clock gap.
    second = synthetic_timeline(SPEC, 30, T0 + timedelta(seconds=7), timeline_id=2, first_pts=9000)
    assert first.same_stream_as(second)
    out = tmp_path / "clip.mp4"
    result = remux_to_mp4([first, second], out, start_time=T0)

    assert result.timelines_used == 2
    assert result.frame_count == 60
    assert result.duration_seconds == pytest.approx(4.0)
    assert result.media_end_time == T0 + timedelta(seconds=9)
    frames = decoded_frames(out)
    assert len(frames) == 60
    times = [float(f.pts * f.time_base) for f in frames]
    assert times[0] == 0
    assert all(b - a == pytest.approx(1 / 15, abs=1e-3) for a, b in itertools.pairwise(times))
    assert [i for i, f in enumerate(frames) if f.key_frame] == [0, 15, 30, 45]


def test_changed_codec_keeps_the_timeline_with_the_event(tmp_path: Path) -> None:
    before = synthetic_timeline(SPEC, 30, T0, timeline_id=1)
    small = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)
    after = synthetic_timeline(small, 45, T0 + timedelta(seconds=2), timeline_id=2)
    out = tmp_path / "clip.mp4"
    result = remux_to_mp4([before, after], out, start_time=T0, event_time=T0 + timedelta(seconds=3))
    assert (result.width, result.height, result.frame_count) == (320, 180, 45)
    assert "left out 1 timeline" in result.note
    frames = decoded_frames(out)
    assert (frames[0].width, frames[0].height, len(frames)) == (320, 180, 45)

    result = remux_to_mp4([before, after], out, event_time=T0 + timedelta(seconds=1))
    assert (result.width, result.frame_count) == (640, 30)


def test_street_recording_keeps_its_irregular_keyframes(street_bikes: Path, tmp_path: Path) -> None:
    window = recording_timeline(street_bikes, T0)
    source_keyframes = [
        round((p.wall_time.ToDatetime(UTC) - T0).total_seconds(), 3)
        for p in window.packets
        if p.keyframe
    ]
    assert len(set(round(b - a, 1) for a, b in itertools.pairwise(source_keyframes))) > 1

    out = tmp_path / "street.mp4"
    result = remux_to_mp4([window], out, start_time=T0 + timedelta(seconds=2))
    # Snap back to the last keyframe at or before 2.0 s (1.2 s in this recording).
    snapped = max(t for t in source_keyframes if t <= 2.0)
    kept = [t for t in source_keyframes if t >= snapped]
    assert 0 < snapped < 2.0
    assert result.media_start_time == T0 + timedelta(seconds=snapped)
    assert (result.width, result.height) == (640, 272)

    frames = decoded_frames(out)
    assert len(frames) == result.frame_count
    assert frames[0].key_frame
    times = [round(float(f.pts * f.time_base), 3) for f in frames]
    assert times == sorted(times)
    keyframe_times = [t for t, f in zip(times, frames, strict=True) if f.key_frame]
    assert keyframe_times == pytest.approx([t - kept[0] for t in kept], abs=0.002)


def as_replies(timelines: list[Timeline], batch: int) -> list[buffer_pb2.ReadWindowResponse]:
    """The timelines as ReadWindow replies: codec, then packet batches of ``batch``."""
    replies = []
    for timeline in timelines:
        replies.append(buffer_pb2.ReadWindowResponse(codec=timeline.codec))
        for i in range(0, len(timeline.packets), batch):
            chunk = buffer_pb2.PacketBatch(packets=timeline.packets[i : i + batch])
            replies.append(buffer_pb2.ReadWindowResponse(packets=chunk))
    return replies


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_live_remux_writes_what_the_batch_remux_writes(
    street_bikes: Path, tmp_path: Path, batch: int
) -> None:
    # The street recording has B-frames and irregular GOPs: the hardest case for
    # choosing the start and for durations taken from the next packet's DTS.
    window = recording_timeline(street_bikes, T0)
    start = T0 + timedelta(seconds=2)
    expected = remux_to_mp4([window], tmp_path / "batch.mp4", start_time=start)

    live = LiveRemux(tmp_path / "live.mp4", start_time=start, event_time=start)
    for reply in as_replies([window], batch):
        live.feed(reply)
    result = live.finish()

    assert result == expected
    assert (tmp_path / "live.mp4").read_bytes() == (tmp_path / "batch.mp4").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.mp4", "live.mp4"]


def test_live_remux_falls_back_when_the_codec_changes(tmp_path: Path) -> None:
    before = synthetic_timeline(SPEC, 30, T0, timeline_id=1)
    small = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)
    after = synthetic_timeline(small, 45, T0 + timedelta(seconds=2), timeline_id=2)
    event = T0 + timedelta(seconds=3)

    live = LiveRemux(tmp_path / "clip.mp4", start_time=T0, event_time=event)
    for reply in as_replies([before, after], 10):
        live.feed(reply)
    result = live.finish()

    assert (result.width, result.height, result.frame_count) == (320, 180, 45)
    assert "left out 1 timeline" in result.note
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_live_remux_abort_leaves_no_file(window: Timeline, tmp_path: Path) -> None:
    live = LiveRemux(tmp_path / "clip.mp4", start_time=T0)
    for reply in as_replies([window], 5)[:4]:
        live.feed(reply)
    live.abort()
    live.abort()
    assert list(tmp_path.iterdir()) == []
