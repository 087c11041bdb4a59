"""Built-in rule: an operator opening the cash drawer without a sale, often.

A NO_SALE scores ``score`` when the operator's NO_SALE events in the last
``window_seconds`` (this one included) reach ``max_count``. Options:
``rules: no_sale_frequency:``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore, RuleContext
from eventclip.plugins.operator_history import human_window


class NoSaleFrequencyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_count: int = Field(3, ge=1)
    window_seconds: float = Field(3_600, gt=0)
    score: float = Field(0.4, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return NoSaleFrequencyOptions


@hookimpl
def score_event(
    event: PosEvent, options: NoSaleFrequencyOptions, context: RuleContext
) -> RiskScore | None:
    if event.type != "NO_SALE" or not event.operator_id:
        return None
    count = 1 + context.count(["NO_SALE"], by="operator", within_seconds=options.window_seconds)
    if count < options.max_count:
        return None
    return RiskScore(
        options.score,
        f"{count} drawer openings without a sale by operator {event.operator_id} within "
        f"{human_window(options.window_seconds)}",
    )
