"""Whether a camera can still have a clip of an event, decided when its alert
is raised: a POS event is always stored and scored, but a clip of an event
older than the camera's buffer, or so far ahead that the POS clock must be
wrong, can never be made. Asking for one would leave a clip FAILED later, or
PENDING until a date a year away; the alert says instead which cameras get
no clip and why (``Alert.no_clip_reason``).

The test is on the event's own time, not the window's: a clip whose media
does not hold the event is FAILED anyway, while a window that has only lost
part of its pre-roll still makes an (incomplete) clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from eventclip.cli_format import human_seconds
from eventclip.config import CameraConfig, ClipsConfig


def why_no_clip(
    event_time: datetime, now: datetime, camera: CameraConfig, clips: ClipsConfig
) -> str | None:
    """Why ``camera`` can have no clip of an event at ``event_time`` (UTC),
    seen at ``now``; None when it can."""
    age = (now - event_time).total_seconds()
    if age > camera.buffer_seconds:
        return (
            f"the event is {human_seconds(age)} old and camera {camera.id} keeps "
            f"{human_seconds(camera.buffer_seconds)} of video"
        )
    if -age > clips.max_future_seconds:
        return (
            f"the event is {human_seconds(-age)} in the future (more than "
            f"clips.max_future_seconds, {human_seconds(clips.max_future_seconds)}, "
            f"ahead of this clock) for camera {camera.id}"
        )
    return None


def split_cameras(
    event_time: datetime,
    now: datetime,
    cameras: Sequence[CameraConfig],
    clips: ClipsConfig,
) -> tuple[list[str], str]:
    """The ids of ``cameras`` that can have a clip of the event, and a sentence
    saying which get none and why (empty when all can)."""
    askable: list[str] = []
    reasons: list[str] = []
    for camera in cameras:
        reason = why_no_clip(event_time, now, camera, clips)
        if reason is None:
            askable.append(camera.id)
        else:
            reasons.append(reason)
    if not reasons:
        return askable, ""
    at = event_time.strftime("%Y-%m-%d %H:%M:%S UTC")
    return askable, f"no clip of the event at {at}: " + "; ".join(reasons)
