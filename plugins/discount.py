"""Built-in rule: a large discount, or an employee discount to the employee.

A DISCOUNT scores ``score`` when its amount is more than ``max_percent`` %
of what its lines total before it (the event's non-voided lines, or else the
latest lines of its transaction), and ``own_account_score`` when the
customer is one of the operator's own accounts
(``employee_accounts: {operator id: [customer ids]}``), whatever its size.
Options: ``rules: discount:``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, PosLine, RiskScore, RuleContext, format_money


class DiscountOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_percent: Decimal = Field(Decimal(30), gt=0, le=100)
    score: float = Field(0.3, ge=0, le=1)
    #: Operator id -> the customer (loyalty) accounts that are their own.
    employee_accounts: dict[str, list[str]] = Field(default_factory=dict)
    own_account_score: float = Field(0.6, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return DiscountOptions


@hookimpl
def score_event(
    event: PosEvent, options: DiscountOptions, context: RuleContext
) -> RiskScore | None:
    if event.type != "DISCOUNT" or event.amount is None:
        return None
    amount = format_money(event.amount, event.currency)
    if event.customer_id and event.customer_id in options.employee_accounts.get(
        event.operator_id, ()
    ):
        return RiskScore(
            options.own_account_score,
            f"discount of {amount} by operator {event.operator_id} to their own "
            f"account {event.customer_id}",
        )
    lines = event.lines or _latest_lines(context)
    base = sum((line.amount for line in lines if not line.voided), Decimal(0))
    if not base:
        return None
    percent = 100 * event.amount / base
    if percent <= options.max_percent:
        return None
    return RiskScore(
        options.score,
        f"discount of {amount} on {format_money(base, event.currency)} "
        f"({percent:.0f} %, over {options.max_percent} %)",
    )


def _latest_lines(context: RuleContext) -> tuple[PosLine, ...]:
    for earlier in reversed(context.transaction()):
        if earlier.lines:
            return earlier.lines
    return ()
