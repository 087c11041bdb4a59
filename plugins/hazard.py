"""Built-in detector: something new lying still on the floor (a spill, a
dropped box), found with classical computer vision; no model weights.

Per camera, on frames scaled to ``analysis_width`` and blurred:

1. A background is learnt as a running average; pixels that differ from it by
   more than ``threshold`` grey levels are foreground.
2. When more than ``global_change`` of the whole picture changes at once
   (lights switched, a camera nudged or re-aimed, a cut), nothing is
   reported and the background is learnt again from that frame.
3. Each foreground blob of at least ``min_area`` of the picture that lies
   wholly inside the floor ``region`` is a candidate. A blob that reaches out
   of the region (a person standing, a table whose top rises above the
   floor) is not, whatever part of it is on the floor.
4. A candidate that keeps its place (its mask overlaps the last one by
   ``still_iou``) for ``persist_seconds`` is reported, with its onset: the
   time it first appeared, not the moment of certainty.

Foreground is learnt into the background only very slowly, so a spill stays
foreground until it is reported (and is absorbed minutes later). Limits are
in docs/plugins.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from eventclip import hookimpl
from eventclip.events.types import Detection, Frame


class HazardOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The floor, a polygon of (x, y) in normalized image coordinates [0, 1].
    region: list[tuple[float, float]]
    #: Seconds a candidate must stay still before it is reported.
    persist_seconds: float = Field(10.0, gt=0, le=3600)
    #: Smallest candidate, as a fraction of the picture's area.
    min_area: float = Field(0.001, gt=0, lt=1)
    #: Grey levels (0-255) a pixel must differ from the background by.
    threshold: int = Field(28, ge=1, le=255)
    #: Fraction of the picture changing at once that means lights or camera, not a spill.
    global_change: float = Field(0.35, gt=0, le=1)
    #: Overlap (IoU) with its last mask for a candidate to count as still.
    still_iou: float = Field(0.6, gt=0, le=1)
    #: Width the frames are analysed at, pixels.
    analysis_width: int = Field(320, ge=64, le=1920)
    label: str = Field("spill", min_length=1, max_length=64)

    @field_validator("region")
    @classmethod
    def _polygon(cls, region: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(region) < 3:
            raise ValueError("region needs at least 3 points")
        for x, y in region:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"region point ({x}, {y}) is outside [0, 1]")
        return region


#: Blobs on the floor this close (pixels at analysis size) are one patch.
JOIN_PIXELS = 9
#: Weight of a new frame in the background, for background and foreground pixels.
LEARN_BACKGROUND, LEARN_FOREGROUND = 0.05, 0.002


@dataclass
class _Candidate:
    mask: np.ndarray
    onset: datetime
    still_since: datetime
    last_seen: datetime


@dataclass
class _Camera:
    background: np.ndarray
    region: np.ndarray
    candidates: list[_Candidate]


_cameras: dict[str, _Camera] = {}


@hookimpl
def detector_options() -> type[BaseModel]:
    return HazardOptions


@hookimpl
def detect(frame: Frame, options: HazardOptions) -> list[Detection]:
    """Spills: see the module."""
    grey = _prepared(frame.image, options.analysis_width)
    state = _cameras.get(frame.camera_id)
    if state is None or state.background.shape != grey.shape:
        _cameras[frame.camera_id] = _Camera(grey.copy(), _region_mask(options, grey.shape), [])
        return []
    foreground = (cv2.absdiff(grey, state.background) > options.threshold).astype(np.uint8)
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if foreground.mean() > options.global_change:
        state.background = grey.copy()  # lights or camera: start again
        state.candidates = []
        return []
    _learn(state, grey, foreground)
    blobs = _floor_blobs(foreground, state.region, options.min_area)
    state.candidates = _track(
        state.candidates, blobs, frame.time, options.still_iou, options.persist_seconds / 2
    )
    found = []
    for candidate in state.candidates:
        if candidate.last_seen != frame.time:
            continue  # hidden now: reported again once it is seen
        if (frame.time - candidate.still_since).total_seconds() >= options.persist_seconds:
            found.append(_detection(candidate, grey, state.background, options))
    return found


def _prepared(image: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)


def _region_mask(options: HazardOptions, shape: tuple[int, ...]) -> np.ndarray:
    height, width = shape[:2]
    points = np.array([[x * (width - 1), y * (height - 1)] for x, y in options.region], np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def _learn(state: _Camera, grey: np.ndarray, foreground: np.ndarray) -> None:
    rate = np.where(foreground.astype(bool), LEARN_FOREGROUND, LEARN_BACKGROUND).astype(np.float32)
    state.background += rate * (grey - state.background)


def _floor_blobs(foreground: np.ndarray, region: np.ndarray, min_area: float) -> list[np.ndarray]:
    """Masks of the foreground patches wholly inside the region, big enough.
    Blobs inside the region that lie within a few pixels of each other are one
    patch (an irregular spill breaks up at its thin parts); blobs reaching out
    of the region are dropped first, so they never join one."""
    count, labels, _, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    inside = np.zeros_like(foreground)
    for n in range(1, count):
        blob = labels == n
        if np.all(region[blob]):
            inside[blob] = 1
    kernel = np.ones((JOIN_PIXELS, JOIN_PIXELS), np.uint8)
    # Near what reaches out of the floor: a foot beside its leg, a table leg.
    beside_outside = cv2.dilate(foreground & ~inside & 1, kernel).astype(bool)
    count, groups, _, _ = cv2.connectedComponentsWithStats(
        cv2.dilate(inside, kernel), connectivity=8
    )
    smallest = min_area * foreground.size
    patches = []
    for n in range(1, count):
        patch = (groups == n) & inside.astype(bool)
        if np.count_nonzero(patch) >= smallest and not np.any(beside_outside[patch]):
            patches.append(patch)
    return patches


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _track(
    candidates: list[_Candidate],
    blobs: list[np.ndarray],
    now: datetime,
    still_iou: float,
    keep_seconds: float,
) -> list[_Candidate]:
    """Match this frame's blobs to the candidates: a blob overlapping one
    keeps its onset, and stays still while the overlap holds ``still_iou``.
    A candidate not seen (someone walking over it joins it to a blob that
    leaves the floor) is kept for ``keep_seconds``, its clock running."""
    tracked, matched = [], set()
    for blob in blobs:
        best = max(candidates, key=lambda c: _iou(c.mask, blob), default=None)
        overlap = _iou(best.mask, blob) if best is not None else 0.0
        if best is None or overlap == 0.0:
            tracked.append(_Candidate(blob, now, now, now))
            continue
        matched.add(id(best))
        if overlap >= still_iou:
            tracked.append(_Candidate(blob, best.onset, best.still_since, now))
        else:  # it moved or changed shape: the same thing, not still yet
            tracked.append(_Candidate(blob, best.onset, now, now))
    for candidate in candidates:
        hidden = (now - candidate.last_seen).total_seconds()
        if id(candidate) not in matched and hidden <= keep_seconds:
            tracked.append(candidate)
    return tracked


def _detection(
    candidate: _Candidate, grey: np.ndarray, background: np.ndarray, options: HazardOptions
) -> Detection:
    ys, xs = np.nonzero(candidate.mask)
    height, width = candidate.mask.shape
    contrast = float(np.mean(np.abs(grey[candidate.mask] - background[candidate.mask])))
    confidence = min(1.0, 0.5 + contrast / (8 * options.threshold))
    box = (
        xs.min() / width,
        ys.min() / height,
        (xs.max() + 1) / width,
        (ys.max() + 1) / height,
    )
    return Detection(
        options.label,
        confidence,
        box,
        onset=candidate.onset,
        attributes={"area": f"{candidate.mask.mean():.4f}"},
    )
