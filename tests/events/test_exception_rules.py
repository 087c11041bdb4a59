"""The built-in exception library, each rule firing and not firing, through
eventclip.testing.RuleHarness: options validated as at start-up and a real
events store (SQLite) as the history the rules ask."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from eventclip.config import ConfigError
from eventclip.events.types import PosEvent, PosLine, Tender
from eventclip.plugins import (
    discount,
    line_void_ratio,
    no_sale_frequency,
    post_void,
    price_override,
    refund_frequency,
    refund_without_receipt,
)
from eventclip.testing import RuleHarness

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
_ids = iter(range(1_000_000))


def event(kind: str, minutes_ago: float = 0, **fields: Any) -> PosEvent:
    values: dict[str, Any] = {
        "event_id": f"e{next(_ids)}",
        "type": kind,
        "store_id": "s1",
        "register_id": "till-1",
        "occurred_at": NOW - timedelta(minutes=minutes_ago),
        "amount": Decimal("20.00"),
        "currency": "USD",
        "operator_id": "op-7",
        "transaction_id": "tx-1",
    }
    values.update(fields)
    return PosEvent(**values)


def line(amount: str, voided: bool = False, list_amount: str | None = None) -> PosLine:
    return PosLine(
        sku="1",
        description="item",
        quantity=Decimal(1),
        amount=Decimal(amount),
        voided=voided,
        list_amount=Decimal(list_amount) if list_amount else None,
    )


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[RuleHarness]:
    plugin, options = request.param
    with RuleHarness(plugin, options) as started:
        yield started


def rule(plugin: object, **options: Any) -> Any:
    return pytest.mark.parametrize("harness", [(plugin, options)], indirect=True)


# -- refund without receipt -----------------------------------------------------


@rule(refund_without_receipt)
def test_a_refund_with_no_original_sale_fires(harness: RuleHarness) -> None:
    score = harness.score(event("REFUND", amount=Decimal("80")))
    assert score is not None and score.score == 0.3
    assert score.reason == "refund of USD 80.00 without a receipt (no original sale)"
    assert harness.score(event("REFUND", original_transaction_id="tx-0")) is None
    assert harness.score(event("SALE")) is None


@rule(refund_without_receipt, require_stored_sale=True, min_amount="10")
def test_a_refund_of_a_sale_never_seen_fires_when_asked(harness: RuleHarness) -> None:
    harness.add(event("SALE", 60, transaction_id="tx-0"))
    assert harness.score(event("REFUND", original_transaction_id="tx-0")) is None
    unknown = harness.score(event("REFUND", original_transaction_id="tx-9"))
    assert unknown is not None and "sale tx-9, which was never seen" in unknown.reason
    assert harness.score(event("REFUND", amount=Decimal("10"))) is None  # not over min_amount


# -- refund frequency -----------------------------------------------------------


@rule(refund_frequency, max_count=3, window_seconds=3600, max_amount="1000")
def test_refund_frequency_counts_the_operators_refunds_in_the_window(harness: RuleHarness) -> None:
    harness.add(
        event("REFUND", 50),
        event("REFUND", 90),  # outside the hour
        event("REFUND", 10, operator_id="op-8"),  # someone else's
        event("SALE", 5),
    )
    assert harness.score(event("REFUND")) is None  # 2 in the hour, this one included
    harness.add(event("REFUND", 20))
    score = harness.score(event("REFUND"))
    assert score is not None
    assert score.reason == "3 refunds by operator op-7 within 1 h (at most 2 expected)"


@rule(refund_frequency, max_count=10, window_seconds=86400, max_amount="1000")
def test_refund_frequency_also_counts_the_amount(harness: RuleHarness) -> None:
    harness.add(event("REFUND", 300, amount=Decimal("600")))
    assert harness.score(event("REFUND", amount=Decimal("300"))) is None
    score = harness.score(event("REFUND", amount=Decimal("400")))
    assert score is not None and score.reason.startswith("refunds of USD 1000.00 by operator op-7")


# -- void after tender ----------------------------------------------------------


@rule(post_void)
def test_a_void_after_the_transaction_was_tendered_fires(harness: RuleHarness) -> None:
    assert harness.score(event("VOID")) is None  # nothing tendered yet
    harness.add(event("SALE", 2, tender=Tender("CASH", Decimal("20"))))
    score = harness.score(event("VOID"))
    assert score is not None and score.score == 0.5
    assert score.reason == "void of USD 20.00 after transaction tx-1 was tendered (cash)"
    assert harness.score(event("VOID", approver_id="mgr-1")) is None  # approved_score 0
    assert harness.score(event("VOID", transaction_id="tx-2")) is None  # another sale


# -- no-sale frequency ----------------------------------------------------------


@rule(no_sale_frequency, max_count=3, window_seconds=1800)
def test_drawer_openings_without_a_sale_fire_at_the_count(harness: RuleHarness) -> None:
    harness.add(event("NO_SALE", 5, amount=None), event("NO_SALE", 40, amount=None))
    assert harness.score(event("NO_SALE", amount=None)) is None  # the 40-min one is outside
    harness.add(event("NO_SALE", 25, amount=None))
    score = harness.score(event("NO_SALE", amount=None))
    assert score is not None
    assert score.reason == "3 drawer openings without a sale by operator op-7 within 30 min"


# -- price override -------------------------------------------------------------


@rule(price_override, min_percent_of_list="50")
def test_a_price_overridden_below_half_the_list_fires(harness: RuleHarness) -> None:
    cut = event("PRICE_OVERRIDE", lines=(line("40", list_amount="100"),))
    score = harness.score(cut)
    assert score is not None
    assert score.reason == (
        "price overridden to USD 40.00 from USD 100.00 (40 % of list, under 50 %)"
    )
    assert harness.score(event("PRICE_OVERRIDE", lines=(line("60", list_amount="100"),))) is None
    assert harness.score(event("PRICE_OVERRIDE", lines=(line("1"),))) is None  # no list price


# -- discount -------------------------------------------------------------------


@rule(discount, max_percent="30", employee_accounts={"op-7": ["loyalty-7"]})
def test_large_discounts_and_discounts_to_the_operators_own_account_fire(
    harness: RuleHarness,
) -> None:
    lines = (line("60"), line("40"), line("50", voided=True))
    big = harness.score(event("DISCOUNT", amount=Decimal("35"), lines=lines))
    assert big is not None and big.reason == "discount of USD 35.00 on USD 100.00 (35 %, over 30 %)"
    assert harness.score(event("DISCOUNT", amount=Decimal("30"), lines=lines)) is None
    own = harness.score(event("DISCOUNT", amount=Decimal("1"), customer_id="loyalty-7"))
    assert own is not None and own.score == 0.6 and "their own account loyalty-7" in own.reason
    # The lines may come from the transaction's earlier event.
    harness.add(event("SALE", 1, lines=(line("10"),)))
    assert harness.score(event("DISCOUNT", amount=Decimal("5"))) is not None


# -- line-void ratio ------------------------------------------------------------


@rule(line_void_ratio, min_lines=4, max_ratio=0.5)
def test_many_voided_lines_in_one_transaction_fire(harness: RuleHarness) -> None:
    half = (line("1", True), line("1", True), line("1"), line("1"))
    score = harness.score(event("SALE", lines=half))
    assert (
        score is not None
        and score.reason == "2 of 4 lines voided in transaction tx-1 (at least 50%)"
    )
    assert harness.score(event("SALE", lines=(line("1", True), *[line("1")] * 3))) is None
    assert harness.score(event("SALE", lines=(line("1", True), line("1", True)))) is None  # too few


def test_options_are_checked_like_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"rules\.rule_under_test\.max_count"):
        RuleHarness(refund_frequency, {"max_count": "zero"})
