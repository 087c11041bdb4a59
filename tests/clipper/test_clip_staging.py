"""Window logs (what a clip job received, kept on disk) and the resume point
that a continued read picks up from, on real H.264 packets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.staging import ResumePoint, WindowLog, WindowLogs
from eventclip.v1 import buffer_pb2

from .media import synthetic_timeline

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def replies(timeline_id: int = 7, frames: int = 45) -> list[buffer_pb2.ReadWindowResponse]:
    timeline = synthetic_timeline(
        SyntheticSpec(width=160, height=96, fps=15, gop_frames=15),
        frames,
        T0,
        timeline_id=timeline_id,
    )
    out = [buffer_pb2.ReadWindowResponse(codec=timeline.codec)]
    for i in range(0, len(timeline.packets), 10):
        batch = buffer_pb2.PacketBatch(packets=timeline.packets[i : i + 10])
        out.append(buffer_pb2.ReadWindowResponse(packets=batch))
    return out


def test_a_log_reads_back_what_was_appended(tmp_path: Path) -> None:
    log = WindowLog(tmp_path / "c1.window")
    assert log.read() == []
    sent = replies()
    for reply in sent:
        log.append(reply)
    log.flush()
    assert log.read() == sent
    log.remove()
    assert not log.path.exists()


def test_a_torn_last_record_is_dropped_and_appends_continue_after_it(tmp_path: Path) -> None:
    log = WindowLog(tmp_path / "c1.window")
    sent = replies()
    for reply in sent:
        log.append(reply)
    log.close()
    whole = log.path.stat().st_size
    with open(log.path, "ab") as f:  # a crash in the middle of an append
        f.write(b"\x00\x00\x10\x00partial")
    assert log.read() == sent
    assert log.path.stat().st_size == whole
    extra = replies(timeline_id=8)[:2]
    for reply in extra:
        log.append(reply)
    log.flush()
    assert log.read() == sent + extra


def test_logs_of_finished_clips_are_removed(tmp_path: Path) -> None:
    logs = WindowLogs(tmp_path / "staged")
    assert logs.clip_ids() == []
    for clip_id in ("a", "b", "c"):
        log = logs.for_clip(clip_id)
        log.append(replies()[0])
        log.close()
    assert logs.remove_except({"b"}) == ["a", "c"]
    assert logs.clip_ids() == ["b"]


def test_resume_point_skips_what_is_already_held() -> None:
    sent = replies()
    held = sent[:3]  # codec + 20 packets
    point = ResumePoint.after(held)
    assert point is not None
    last = held[-1].packets.packets[-1]
    assert (point.timeline_id, point.dts) == (7, last.dts)
    assert point.wall_time == last.wall_time.seconds + last.wall_time.nanos * 1e-9

    # The continuation repeats the codec and the GOP before the resume point.
    assert point.skip(sent[0], None) is None
    assert point.skip(sent[1], 7) is None
    assert point.skip(sent[2], 7) is None
    assert point.skip(sent[3], 7) == sent[3]
    mixed = buffer_pb2.ReadWindowResponse(
        packets=buffer_pb2.PacketBatch(packets=[*sent[2].packets.packets, *sent[3].packets.packets])
    )
    kept = point.skip(mixed, 7)
    assert kept is not None and list(kept.packets.packets) == list(sent[3].packets.packets)

    # A new timeline (a reconnect, a restarted buffer) is all new.
    other = replies(timeline_id=9)
    assert point.skip(other[0], 7) == other[0]
    assert point.skip(other[1], 9) == other[1]


def test_no_resume_point_without_packets() -> None:
    assert ResumePoint.after([]) is None
    assert ResumePoint.after(replies()[:1]) is None
