"""What rule plugins receive and return: plain, frozen, typed values.

Third-party plugins import these and nothing else from the service::

    from eventclip.events.types import PosEvent, RiskScore

They carry no protobuf or database objects, so a plugin does not depend on how the
service stores or transports an event, and cannot change it by accident.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from numbers import Real
from types import MappingProxyType

__all__ = ["PosEvent", "RiskScore", "format_money"]


@dataclass(frozen=True, slots=True)
class PosEvent:
    """One point-of-sale event, as a rule plugin sees it.

    ``type`` is the proto enum name ("SALE", "REFUND", "VOID", "NO_SALE",
    "PRICE_OVERRIDE", "DISCOUNT"). ``amount`` is exact (Decimal, major units such
    as dollars, never a float) and never negative; it and ``currency`` (ISO 4217,
    e.g. "USD") are None only for a NO_SALE sent without an amount. Empty strings
    mean "not given" (``approver_id == ""``: nobody approved). ``occurred_at`` is
    timezone-aware UTC. ``attributes`` are the vendor's extras, read-only.
    """

    event_id: str
    type: str
    store_id: str
    register_id: str
    occurred_at: datetime
    amount: Decimal | None = None
    currency: str | None = None
    operator_id: str = ""
    approver_id: str = ""
    transaction_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        # Frozen all the way down: one plugin cannot change what the next one sees.
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    @property
    def approved(self) -> bool:
        """True when a manager approved the action (``approver_id`` is set)."""
        return bool(self.approver_id)


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A rule's verdict: ``score`` in [0, 1] (0 = no risk) and a human ``reason``
    shown to the loss-prevention manager. Raises ValueError when out of range."""

    score: float
    reason: str

    def __post_init__(self) -> None:
        score = self.score
        if isinstance(score, bool) or not isinstance(score, Real | Decimal):
            raise ValueError(f"score must be a number in [0, 1], got {score!r}")
        score = float(score)
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {score!r}")
        if not isinstance(self.reason, str):
            raise ValueError(f"reason must be a string, got {self.reason!r}")
        object.__setattr__(self, "score", score)


def format_money(amount: Decimal, currency: str | None) -> str:
    """ "USD 500.00": at least two decimals, more only when the amount has them."""
    text = f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else f"{amount:f}"
    return f"{currency} {text}" if currency else text
