"""One physical incident, one alert: detections of the same camera and label
at the same place (boxes overlapping) within a cooldown of an alert's
detection repeat that alert instead of raising another.

A detector reports a spill on every frame it stays; an external detector
reports a person at every step. The first detection that alerts opens an
incident for (camera, label) at its box; later ones whose box overlaps it by
at least ``same_place_iou`` (intersection over union) within
``cooldown_seconds`` of the incident's latest detection are its repeats and
keep it open. The incidents live in memory and are rebuilt at start-up from
the detections stored within the cooldown (``restore``), so a restart of the
events service does not alert twice for one incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x_min, y_min, x_max, y_max) boxes, in
    [0, 1] (two empty boxes at the same point: 1)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    if union <= 0:
        return 1.0 if a == b else 0.0
    return inter / union


@dataclass
class Incident:
    alert_id: str
    box: Box
    last_seen: datetime


class Incidents:
    """Open incidents by (camera, label); see the module."""

    def __init__(self, cooldown_seconds: float, same_place_iou: float) -> None:
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.same_place_iou = same_place_iou
        self._open: dict[tuple[str, str], list[Incident]] = {}

    def repeat_of(self, camera_id: str, label: str, box: Box, at: datetime) -> str | None:
        """The alert id of the open incident this detection repeats (and
        keeps open), or None when it is a new incident."""
        incidents = self._open.get((camera_id, label), [])
        incidents[:] = [i for i in incidents if abs(at - i.last_seen) <= self.cooldown]
        for incident in incidents:
            if iou(incident.box, box) >= self.same_place_iou:
                incident.last_seen = max(incident.last_seen, at)
                return incident.alert_id
        return None

    def opened(self, camera_id: str, label: str, box: Box, at: datetime, alert_id: str) -> None:
        """Record the incident an alert was just raised for."""
        self._open.setdefault((camera_id, label), []).append(Incident(alert_id, box, at))

    def restore(self, detections: list[tuple[str, str, Box, datetime, str | None]]) -> int:
        """Replay stored detections, oldest first: (camera, label, box, onset,
        the alert it raised or None). Returns the incidents open afterwards."""
        for camera_id, label, box, at, alert_id in detections:
            if alert_id is not None:
                self.opened(camera_id, label, box, at, alert_id)
            else:
                self.repeat_of(camera_id, label, box, at)
        return sum(len(v) for v in self._open.values())
