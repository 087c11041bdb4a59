"""Built-in rule: a large refund that no manager approved.

A REFUND whose amount is strictly above ``min_amount`` (major units, any currency)
with an empty ``approver_id`` scores ``score``. Options come from the config under
``rules: refund_without_approval:`` (``RefundWithoutApprovalOptions``).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore, format_money


class RefundWithoutApprovalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Refunds strictly above this amount (major units, e.g. dollars) count.
    min_amount: Decimal = Field(Decimal(100), ge=0)
    score: float = Field(0.5, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return RefundWithoutApprovalOptions


@hookimpl
def score_event(event: PosEvent, options: RefundWithoutApprovalOptions) -> RiskScore | None:
    """RiskScore(options.score) for an unapproved refund above options.min_amount."""
    if event.type != "REFUND" or event.approved or event.amount is None:
        return None
    if event.amount <= options.min_amount:
        return None
    return RiskScore(
        score=options.score,
        reason=(
            f"refund of {format_money(event.amount, event.currency)} without manager "
            f"approval (over {options.min_amount})"
        ),
    )
