"""Built-in rule: void after tender (a post-void).

A VOID of a transaction that was already paid for scores ``score``: the
void itself carries the tender, or an earlier event of the same transaction
did. Voiding a tendered sale after the customer left is the classic way to
pocket its cash. A void that a manager approved scores
``approved_score`` (0: nothing). Options: ``rules: post_void:``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore, RuleContext, format_money


class PostVoidOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float = Field(0.5, ge=0, le=1)
    approved_score: float = Field(0.0, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return PostVoidOptions


@hookimpl
def score_event(
    event: PosEvent, options: PostVoidOptions, context: RuleContext
) -> RiskScore | None:
    if event.type != "VOID" or not event.transaction_id:
        return None
    tendered = event.tender
    if tendered is None:
        tendered = next((e.tender for e in context.transaction() if e.tender is not None), None)
    if tendered is None:
        return None
    score = options.approved_score if event.approved else options.score
    if score == 0:
        return None
    paid = f" ({tendered.kind.lower()})" if tendered.kind != "KIND_UNSPECIFIED" else ""
    amount = format_money(event.amount or Decimal(0), event.currency)
    return RiskScore(
        score,
        f"void of {amount} after transaction {event.transaction_id} was tendered{paid}"
        + (" (approved)" if event.approved else ""),
    )
