"""Built-in rule: a price overridden far below the list price.

A PRICE_OVERRIDE scores ``score`` when its lines that carry a
``list_amount`` total less than ``min_percent_of_list`` % of their list
amounts (voided lines left out). Options: ``rules: price_override:``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore, format_money


class PriceOverrideOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_percent_of_list: Decimal = Field(Decimal(50), gt=0, le=100)
    score: float = Field(0.4, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return PriceOverrideOptions


@hookimpl
def score_event(event: PosEvent, options: PriceOverrideOptions) -> RiskScore | None:
    if event.type != "PRICE_OVERRIDE":
        return None
    priced = [line for line in event.lines if line.list_amount and not line.voided]
    listed = sum((line.list_amount or Decimal(0) for line in priced), Decimal(0))
    if not listed:
        return None
    charged = sum((line.amount for line in priced), Decimal(0))
    percent = 100 * charged / listed
    if percent >= options.min_percent_of_list:
        return None
    return RiskScore(
        options.score,
        f"price overridden to {format_money(charged, event.currency)} from "
        f"{format_money(listed, event.currency)} ({percent:.0f} % of list, "
        f"under {options.min_percent_of_list} %)",
    )
