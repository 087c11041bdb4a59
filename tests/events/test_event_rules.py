"""The built-in refund_without_approval rule, the plugin types and risk combination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from eventclip.config import ConfigError, load_settings
from eventclip.events import risk
from eventclip.events.types import PosEvent, RiskScore, format_money
from eventclip.plugins import refund_without_approval as rule
from eventclip.testing import RuleHarness

from .harness import make_event


@pytest.fixture
def harness() -> Iterator[RuleHarness]:
    with RuleHarness(rule, name="refund_without_approval") as harness:
        yield harness


def test_unapproved_refund_over_the_minimum_scores_with_a_reason(harness: RuleHarness) -> None:
    result = harness.score(make_event())
    assert result == RiskScore(0.5, "refund of USD 500.00 without manager approval (over 100)")


@pytest.mark.parametrize(
    ("amount", "fires"),
    [
        (Decimal("100"), False),  # exactly min_amount: strictly above is required
        (Decimal("100.000000001"), True),  # one nano over
        (Decimal("99.99"), False),
        (Decimal("100.01"), True),
    ],
)
def test_threshold_edges(harness: RuleHarness, amount: Decimal, fires: bool) -> None:
    assert (harness.score(make_event(amount=amount)) is not None) is fires


def test_approved_refund_does_not_fire(harness: RuleHarness) -> None:
    assert harness.score(make_event(approver_id="mgr-1")) is None


@pytest.mark.parametrize("kind", ["SALE", "VOID", "PRICE_OVERRIDE", "DISCOUNT", "NO_SALE"])
def test_other_types_do_not_fire(harness: RuleHarness, kind: str) -> None:
    assert harness.score(make_event(type=kind)) is None


def test_options_from_config_change_the_rule(tmp_path: Path) -> None:
    config = tmp_path / "eventclip.yaml"
    config.write_text(
        "rules:\n  refund_without_approval:\n    min_amount: '1000'\n    score: 0.9\n"
    )
    options = load_settings(config).rules["refund_without_approval"]
    with RuleHarness(rule, options) as harness:
        assert harness.score(make_event(amount=Decimal("999.99"))) is None
        result = harness.score(make_event(amount=Decimal("1000.50"), currency="EUR"))
    assert result == RiskScore(0.9, "refund of EUR 1000.50 without manager approval (over 1000)")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_amount": "1", "score": 3}, "rules.rule_under_test.score: Input should be less"),
        ({"min_amount": "zero"}, "rules.rule_under_test.min_amount: Input should be a valid"),
        ({"min_amout": "1"}, "rules.rule_under_test.min_amout: Extra inputs are not permitted"),
    ],
)
def test_invalid_options_are_refused_as_at_start_up(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RuleHarness(rule, options)
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), float("inf"), "0.5", True, None])
def test_risk_score_rejects_values_outside_unit_interval(bad: object) -> None:
    with pytest.raises(ValueError):
        RiskScore(bad, "x")  # type: ignore[arg-type]


def test_risk_score_accepts_decimal_and_int() -> None:
    assert RiskScore(Decimal("0.25"), "x").score == 0.25
    assert RiskScore(1, "x").score == 1.0


def test_pos_event_is_frozen_and_needs_an_aware_time() -> None:
    event = make_event(attributes={"lane": "3"})
    with pytest.raises(AttributeError):
        event.type = "SALE"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.attributes["lane"] = "4"  # type: ignore[index]
    with pytest.raises(ValueError, match="timezone-aware"):
        PosEvent("e", "SALE", "s", "r", datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("amount", "text"),
    [("500", "USD 500.00"), ("0.5", "USD 0.50"), ("12.345", "USD 12.345")],
)
def test_format_money(amount: str, text: str) -> None:
    assert format_money(Decimal(amount), "USD") == text


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], 0.0),
        ([0.5], 0.5),
        ([0.5, 0.5], 0.75),
        ([0.2, 0.25], 0.4),  # exactly the default threshold, not 0.3999999999999999
        ([1.0, 0.3], 1.0),
        ([0.0, 0.0], 0.0),
    ],
)
def test_noisy_or_combination(scores: list[float], expected: float) -> None:
    assert risk.combine(scores) == expected


def test_threshold_is_inclusive() -> None:
    assert risk.raises_alert(risk.combine([0.2, 0.25]), 0.4)
    assert not risk.raises_alert(0.39, 0.4)
