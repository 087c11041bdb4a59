"""Hook signatures for eventclip plugins (documented with examples in docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import pluggy
from pydantic import BaseModel

from eventclip import PROJECT_NAME
from eventclip.events.types import Detection, Frame, PosEvent, RiskScore, RuleContext

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def score_event(
    event: PosEvent, options: BaseModel | Mapping[str, Any], context: RuleContext
) -> RiskScore | Awaitable[RiskScore | None] | None:
    """Score a POS event's risk in [0, 1] with a reason, or None when the rule does not apply."""
    # options: the plugin's rule_options model validated at start-up, or the
    # configured dict when it declares none; context: the event history
    # (types.RuleContext). An implementation takes only the arguments it names.


@hookspec
def rule_options() -> type[BaseModel]:
    """The pydantic model of this rule's options (``rules: <plugin>:``), validated at start-up."""


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


@hookspec
def startup(options: BaseModel | Mapping[str, Any]) -> Awaitable[None] | None:
    """Prepare once when the events service starts, before the first event (load a list, open a client)."""
    # options: as score_event gets them; a plugin that raises or passes
    # plugin_timeout_seconds stops the start with its name.
