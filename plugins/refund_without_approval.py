"""Built-in rule: a large refund that no manager approved.

A REFUND whose amount is strictly above ``min_amount`` (major units, any currency)
with an empty ``approver_id`` scores ``score``. Options come from the config under
``rules: refund_without_approval:`` (see ``eventclip.config.RefundRuleConfig``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventclip import hookimpl
from eventclip.config import RefundRuleConfig
from eventclip.events.types import PosEvent, RiskScore, format_money


@hookimpl
def score_event(event: PosEvent, options: Mapping[str, Any]) -> RiskScore | None:
    """RiskScore(options.score) for an unapproved refund above options.min_amount."""
    if event.type != "REFUND" or event.approved or event.amount is None:
        return None
    config = RefundRuleConfig.model_validate(dict(options))
    if event.amount <= config.min_amount:
        return None
    return RiskScore(
        score=config.score,
        reason=(
            f"refund of {format_money(event.amount, event.currency)} without manager "
            f"approval (over {config.min_amount})"
        ),
    )
