"""Fixtures for the events service tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eventclip.events.types import PosEvent


def make_event(**fields: Any) -> PosEvent:
    """A PosEvent for rule tests: an unapproved USD 500.00 refund unless overridden."""
    values: dict[str, Any] = {
        "event_id": "e-1",
        "type": "REFUND",
        "store_id": "s1",
        "register_id": "demo",
        "occurred_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "amount": Decimal("500.00"),
        "currency": "USD",
        "operator_id": "cashier-7",
    }
    values.update(fields)
    return PosEvent(**values)
