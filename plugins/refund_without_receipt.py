"""Built-in rule: a refund without a receipt, that is, with no original sale.

A REFUND with no ``original_transaction_id`` scores ``score`` (with
``require_stored_sale``, also one whose sale eventclip has never seen: no
event of that transaction is stored). Refunds at or under ``min_amount``
(major units) are left alone. Options: ``rules: refund_without_receipt:``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore, RuleContext, format_money


class RefundWithoutReceiptOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_amount: Decimal = Field(Decimal(0), ge=0)
    #: Also score refunds whose original sale is not in eventclip's history
    #: (off by default: sales from before eventclip was installed are not).
    require_stored_sale: bool = False
    score: float = Field(0.3, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return RefundWithoutReceiptOptions


@hookimpl
def score_event(
    event: PosEvent, options: RefundWithoutReceiptOptions, context: RuleContext
) -> RiskScore | None:
    if event.type != "REFUND" or (event.amount or Decimal(0)) <= options.min_amount:
        return None
    amount = format_money(event.amount or Decimal(0), event.currency)
    if not event.original_transaction_id:
        return RiskScore(options.score, f"refund of {amount} without a receipt (no original sale)")
    if options.require_stored_sale and not context.original_transaction():
        return RiskScore(
            options.score,
            f"refund of {amount} for sale {event.original_transaction_id}, which was never seen",
        )
    return None
