"""Built-in rule: one operator refunding often, by count or by amount.

A REFUND scores ``score`` when, with the operator's refunds in the last
``window_seconds`` (this one included), their number reaches ``max_count``
or their total reaches ``max_amount`` (major units; unset: count only).
Options: ``rules: refund_frequency:``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import (
    MAX_RELATED_EVENTS,
    PosEvent,
    RiskScore,
    RuleContext,
    format_money,
)
from eventclip.plugins.operator_history import human_window


class RefundFrequencyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_count: int = Field(3, ge=1)
    max_amount: Decimal | None = Field(None, gt=0)
    window_seconds: float = Field(86_400, gt=0)
    score: float = Field(0.5, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return RefundFrequencyOptions


@hookimpl
def score_event(
    event: PosEvent, options: RefundFrequencyOptions, context: RuleContext
) -> RiskScore | None:
    if event.type != "REFUND" or not event.operator_id:
        return None
    earlier = context.events(
        ["REFUND"], by="operator", within_seconds=options.window_seconds, limit=10_000
    )
    count = len(earlier) + 1
    total = sum((e.amount or Decimal(0) for e in earlier), event.amount or Decimal(0))
    within = human_window(options.window_seconds)
    if count >= options.max_count:
        why = f"{count} refunds by operator {event.operator_id} within {within}"
    elif options.max_amount is not None and total >= options.max_amount:
        why = (
            f"refunds of {format_money(total, event.currency)} by operator "
            f"{event.operator_id} within {within}"
        )
    else:
        return None
    return RiskScore(
        options.score,
        f"{why} (at most {options.max_count - 1} expected)",
        # The earlier refunds belong on the alert's video too.
        related_event_ids=tuple(e.event_id for e in earlier[:MAX_RELATED_EVENTS]),
    )
