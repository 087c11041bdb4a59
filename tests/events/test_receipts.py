"""Receipts on POS events over real gRPC: lines, tender, customer, the refunded
sale and the POS's send time are validated in words a POS developer reads,
stored, handed to rule plugins and given back with the alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pluggy
import pytest
from google.type.money_pb2 import Money

from eventclip import hookimpl
from eventclip.events.plugins import create_plugin_manager
from eventclip.events.types import PosEvent, RiskScore
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.v1 import events_pb2

from .harness import Events, make_settings, refund, running, status_of


def usd(units: int, cents: int = 0) -> Money:
    return Money(currency_code="USD", units=units, nanos=cents * 10_000_000)


def receipt_refund(**fields: object) -> events_pb2.PosEvent:
    """A USD 500.00 refund of two lines (one voided) paid back to a card."""
    now = utcnow()
    values: dict[str, object] = {
        "lines": [
            events_pb2.PosLine(
                sku="4006381333931",
                description="Espresso machine",
                quantity=1,
                amount=usd(480),
                list_amount=usd(499, 99),
                scanned_at=to_timestamp(now - timedelta(seconds=20)),
            ),
            events_pb2.PosLine(sku="200451", description="Bananas", quantity=0.455, amount=usd(20)),
            events_pb2.PosLine(sku="1234", description="Gift bag", amount=usd(1), voided=True),
        ],
        "tender": events_pb2.Tender(
            kind=events_pb2.Tender.CARD, amount=usd(500), card_last4="4242"
        ),
        "customer_id": "loyalty-991",
        "original_transaction_id": "tx-0815",
        "sent_at": to_timestamp(now),
    }
    values.update(fields)
    return refund(**values)


class SeenByRules:
    """A rule plugin that keeps what it was given and scores nothing."""

    def __init__(self) -> None:
        self.events: list[PosEvent] = []

    @hookimpl
    def score_event(self, event: PosEvent, options: dict) -> RiskScore | None:
        self.events.append(event)
        return None


@pytest.fixture
async def with_rule(tmp_path: Path) -> AsyncIterator[tuple[Events, SeenByRules]]:
    rule = SeenByRules()
    pm: pluggy.PluginManager = create_plugin_manager(["refund_without_approval"])
    pm.register(rule, name="seen_by_rules")
    async with running(make_settings(tmp_path), plugin_manager=pm) as events:
        yield events, rule


async def test_a_receipt_reaches_the_rules_and_comes_back_with_the_alert(
    with_rule: tuple[Events, SeenByRules],
) -> None:
    events, rule = with_rule
    event = receipt_refund()
    response = await events.submit(event)
    assert response.HasField("alert")

    seen = rule.events[-1]
    assert [(line.sku, line.quantity, line.amount, line.voided) for line in seen.lines] == [
        ("4006381333931", Decimal(1), Decimal(480), False),
        ("200451", Decimal("0.455"), Decimal(20), False),
        ("1234", Decimal(1), Decimal(1), True),  # no quantity sent: 1
    ]
    assert seen.lines[0].list_amount == Decimal("499.99")
    assert seen.lines[0].scanned_at is not None and seen.lines[1].scanned_at is None
    assert seen.tender is not None
    assert (seen.tender.kind, seen.tender.amount, seen.tender.card_last4) == (
        "CARD",
        Decimal(500),
        "4242",
    )
    assert (seen.customer_id, seen.original_transaction_id) == ("loyalty-991", "tx-0815")
    assert seen.sent_at is not None and seen.sent_at.tzinfo is not None

    stored = await events.stub.GetAlert(events_pb2.GetAlertRequest(id=response.alert.id))
    assert stored.event == event  # every receipt field kept as sent
    # A retry is the same event (the receipt is part of its fingerprint) ...
    assert (await events.submit(event)).replayed
    # ... and another receipt under the same event_id is not.
    changed = events_pb2.PosEvent()
    changed.CopyFrom(event)
    changed.lines[1].voided = True
    code, _ = await status_of(events.submit(changed))
    assert code == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            refund(amount=Money(currency_code="USD", units=500, nanos=123_000_000)),
            "event.amount is USD 500.123, but USD has 2 decimal places: round it to 500.12",
        ),
        (
            refund(amount=Money(currency_code="JPY", units=500, nanos=500_000_000)),
            "event.amount is JPY 500.5, but JPY has no decimal places",
        ),
        (
            refund(amount=Money(currency_code="XYZ", units=5)),
            "event.amount.currency_code XYZ is not an ISO 4217 currency",
        ),
        (
            receipt_refund(lines=[events_pb2.PosLine(sku="1", amount=usd(1))] * 501),
            "event.lines has 501 lines; at most 500",
        ),
        (
            receipt_refund(lines=[events_pb2.PosLine(sku="1")]),
            "event.lines[0].amount is required",
        ),
        (
            receipt_refund(lines=[events_pb2.PosLine(sku="1", amount=usd(1), quantity=-2)]),
            "event.lines[0].quantity must be from 0 to 1000000",
        ),
        (
            receipt_refund(
                lines=[events_pb2.PosLine(sku="1", amount=Money(currency_code="EUR", units=1))]
            ),
            "event.lines[0].amount is in EUR but the event's amount is in USD",
        ),
        (
            receipt_refund(
                tender=events_pb2.Tender(kind=events_pb2.Tender.CARD, card_last4="4111111111111111")
            ),
            "event.tender.card_last4 must be the card's last four digits",
        ),
        (
            receipt_refund(
                tender=events_pb2.Tender(amount=Money(currency_code="USD", units=1, nanos=5))
            ),
            "event.tender.amount is USD 1.000000005, but USD has 2 decimal places",
        ),
        (
            receipt_refund(sent_at=to_timestamp(utcnow().replace(year=1999))),
            "event.sent_at",
        ),
    ],
)
async def test_bad_receipts_are_invalid_argument_in_plain_words(
    events: Events, event: events_pb2.PosEvent, message: str
) -> None:
    code, details = await status_of(events.submit(event))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message in details
    assert await events.alerts() == []
