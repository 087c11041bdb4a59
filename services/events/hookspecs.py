"""Hook signatures for eventclip plugins (documented with examples in docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import pluggy
from pydantic import BaseModel

from eventclip import PROJECT_NAME
from eventclip.events.types import Detection, Frame, PosEvent, RiskScore

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def score_event(
    event: PosEvent, options: Mapping[str, Any]
) -> RiskScore | Awaitable[RiskScore | None] | None:
    """Score a POS event's risk in [0, 1] with a reason, or None when the rule does not apply."""


@hookspec
def detect(
    frame: Frame, options: BaseModel
) -> list[Detection] | Awaitable[list[Detection] | None] | None:
    """Look at one frame of a camera this detector is configured for and return what it found (an empty list or None: nothing)."""
    # Called about cameras[].detect_fps times a second, with that camera's
    # options validated by the plugin's detector_options model; a slow call
    # makes the detector skip frames, one over plugin_timeout_seconds is
    # abandoned and counted as a failure (eventclip.events.detectors).


@hookspec
def detector_options() -> type[BaseModel]:
    """The pydantic model of this detector's per-camera options, validated at start-up."""
