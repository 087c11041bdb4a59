"""Hook signatures for eventclip plugins (documented with examples in docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import pluggy

from eventclip import PROJECT_NAME
from eventclip.events.types import PosEvent, RiskScore

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def score_event(
    event: PosEvent, options: Mapping[str, Any]
) -> RiskScore | Awaitable[RiskScore | None] | None:
    """Score a POS event's risk in [0, 1] with a reason, or None when the rule does not apply."""
