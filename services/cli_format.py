"""Human-readable tables of the ``eventclip`` client commands: clips with their
coverage and hold, audit trails; sizes and durations in human units."""

from __future__ import annotations

from collections.abc import Iterable

from eventclip.timeutil import duration_seconds, timestamp_seconds
from eventclip.v1 import clips_pb2

State = clips_pb2.Clip.State


def human_bytes(size: int) -> str:
    """``size`` bytes as B, kB, MB or GB (powers of 1000, one decimal)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def human_seconds(seconds: float) -> str:
    """``12.4 s``, ``2 min 05 s`` or ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds) // 60, 60)
    return f"{hours} h {rest:02d} min"


def missing_seconds(clip: clips_pb2.Clip) -> float:
    """Seconds of the requested window the media lacks (sum of ``gaps``)."""
    return sum(
        timestamp_seconds(gap.end_time) - timestamp_seconds(gap.start_time) for gap in clip.gaps
    )


def coverage(clip: clips_pb2.Clip) -> str:
    """What the clip's media covers: ``complete``, ``INCOMPLETE: 12.4 s missing``,
    ``media deleted``, or ``-`` while there is no media."""
    if clip.state == State.DELETED:
        return "media deleted"
    if clip.state not in (State.READY, State.FAILED) or not clip.size_bytes:
        return "-"
    if clip.complete:
        return "complete"
    missing = missing_seconds(clip)
    return f"INCOMPLETE: {human_seconds(missing)} missing" if missing > 0 else "INCOMPLETE"


def clip_table(clips: Iterable[clips_pb2.Clip]) -> list[str]:
    """Lines of the ``clips list`` table (header first)."""
    lines = [
        f"{'ID':<20}  {'CAMERA':<12} {'STATE':<9} {'HOLD':<4} {'START (UTC)':<19} "
        f"{'LENGTH':>10} {'SIZE':>9}  {'COVERAGE':<28} EVENT"
    ]
    for clip in clips:
        start = clip.start_time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
        length = human_seconds(duration_seconds(clip.duration)) if clip.duration.ByteSize() else "-"
        size = human_bytes(clip.size_bytes) if clip.size_bytes else "-"
        hold = "yes" if clip.legal_hold else ""
        lines.append(
            f"{clip.id:<20}  {clip.camera_id:<12} {State.Name(clip.state):<9} {hold:<4} "
            f"{start:<19} {length:>10} {size:>9}  {coverage(clip):<28} {clip.event_id}"
        )
    return lines


def audit_table(entries: Iterable[clips_pb2.AuditEntry]) -> list[str]:
    """Lines of the ``clips audit`` table (header first)."""
    lines = [f"{'SEQ':>4}  {'TIME (UTC)':<26} {'ACTION':<10} {'ACTOR':<12} DETAIL"]
    for entry in entries:
        when = entry.time.ToDatetime().strftime("%Y-%m-%d %H:%M:%S.%f")
        lines.append(
            f"{entry.sequence:>4}  {when:<26} {entry.action:<10} {entry.actor:<12} {entry.detail}"
        )
    return lines
