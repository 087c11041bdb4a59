"""What rule plugins receive and return: plain, frozen, typed values.

Third-party plugins import these and nothing else from the service::

    from eventclip.events.types import PosEvent, RiskScore

They carry no protobuf or database objects, so a plugin does not depend on how the
service stores or transports an event, and cannot change it by accident.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from numbers import Real
from types import MappingProxyType
from typing import Any, Literal, Protocol

__all__ = [
    "Detection",
    "Frame",
    "PosEvent",
    "PosLine",
    "RiskScore",
    "RuleContext",
    "Tender",
    "format_money",
]


@dataclass(frozen=True, slots=True)
class PosLine:
    """One receipt line. ``quantity``: units, or weight for goods sold by
    weight (Decimal, 1 when the POS sent none); ``amount``: the line's total
    and ``list_amount`` the price list's for the same quantity (None: not
    sent), exact major units in the event's currency; ``scanned_at``: when it
    was rung up (UTC), None when not sent."""

    sku: str
    description: str
    quantity: Decimal
    amount: Decimal
    voided: bool = False
    scanned_at: datetime | None = None
    list_amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Tender:
    """How the transaction was paid: ``kind`` is the Tender.Kind name ("CASH",
    "CARD", "GIFT_CARD", "MOBILE", "CHECK", "STORE_CREDIT", "OTHER" or
    "KIND_UNSPECIFIED"); ``amount`` exact major units or None;
    ``card_last4``: "4242" for a card, else ""."""

    kind: str
    amount: Decimal | None = None
    card_last4: str = ""


@dataclass(frozen=True, slots=True)
class PosEvent:
    """One point-of-sale event, as a rule plugin sees it, or a DETECTION.

    ``type`` is the proto enum name ("SALE", "REFUND", "VOID", "NO_SALE",
    "PRICE_OVERRIDE", "DISCOUNT", or "DETECTION": what a detector found,
    with ``camera_id`` and ``detection`` set and no register). ``amount`` is exact (Decimal, major units such
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
    #: DETECTION events: the camera and what was found there (``occurred_at``
    #: is the onset); "" and None for POS events.
    camera_id: str = ""
    detection: Detection | None = None
    #: The receipt: lines in the order rung up, the tender (None until
    #: tendered), the customer, the refunded sale ("" when none was given)
    #: and when the POS sent the event (its clock; None when not sent).
    lines: tuple[PosLine, ...] = ()
    tender: Tender | None = None
    customer_id: str = ""
    original_transaction_id: str = ""
    sent_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        # Frozen all the way down: one plugin cannot change what the next one sees.
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        object.__setattr__(self, "lines", tuple(self.lines))

    @property
    def approved(self) -> bool:
        """True when a manager approved the action (``approver_id`` is set)."""
        return bool(self.approver_id)


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A rule's verdict: ``score`` in [0, 1] (0 = no risk) and a human ``reason``
    shown to the loss-prevention manager. ``related_event_ids``: earlier events
    that are part of what the rule saw (say, the operator's earlier refunds):
    the alert's clips start early enough to show them too (at most
    ``clips.max_seconds`` in all). Raises ValueError when out of range."""

    score: float
    reason: str
    related_event_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        score = self.score
        if isinstance(score, bool) or not isinstance(score, Real | Decimal):
            raise ValueError(f"score must be a number in [0, 1], got {score!r}")
        score = float(score)
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {score!r}")
        if not isinstance(self.reason, str):
            raise ValueError(f"reason must be a string, got {self.reason!r}")
        related = tuple(self.related_event_ids)
        if len(related) > MAX_RELATED_EVENTS or not all(isinstance(i, str) for i in related):
            raise ValueError(
                f"related_event_ids must be at most {MAX_RELATED_EVENTS} event ids (strings)"
            )
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "related_event_ids", related)


def format_money(amount: Decimal, currency: str | None) -> str:
    """ "USD 500.00": at least two decimals, more only when the amount has them."""
    text = f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else f"{amount:f}"
    return f"{currency} {text}" if currency else text


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture of a camera, as a detector plugin sees it.

    ``image`` is H x W x 3 ``numpy.uint8`` in RGB order, read-only (copy it to
    draw on it), at most the camera's ``detect_max_width`` wide;
    ``source_width`` x ``source_height`` is the camera's own size. ``time`` is
    the picture's wall-clock time (timezone-aware UTC). ``keyframe``: the
    picture is a keyframe (sharpest, no prediction artefacts).
    """

    camera_id: str
    time: datetime
    image: Any
    source_width: int
    source_height: int
    keyframe: bool = False

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("time must be timezone-aware")
        shape = getattr(self.image, "shape", None)
        if shape is None or len(shape) != 3 or shape[2] != 3:
            raise ValueError(f"image must be H x W x 3, got shape {shape}")


@dataclass(frozen=True, slots=True)
class Detection:
    """What a detector found in a frame.

    ``label`` names it ("spill", "person"); ``confidence`` is in [0, 1];
    ``box`` is (x_min, y_min, x_max, y_max) in normalized image coordinates
    ([0, 1], origin top left, so the same box holds at any picture size);
    ``onset`` is when the thing began, when the detector knows it (a spill is
    reported once it has stayed, but began earlier), else None: the frame's
    time. ``attributes`` are the detector's extras. Raises ValueError when a
    value is out of range.
    """

    label: str
    confidence: float
    box: tuple[float, float, float, float]
    onset: datetime | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"label must be a non-empty string, got {self.label!r}")
        confidence = self.confidence
        if isinstance(confidence, bool) or not isinstance(confidence, Real):
            raise ValueError(f"confidence must be a number in [0, 1], got {confidence!r}")
        if not math.isfinite(float(confidence)) or not 0.0 <= float(confidence) <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {confidence!r}")
        try:
            x0, y0, x1, y1 = (float(v) for v in self.box)
        except (TypeError, ValueError):
            raise ValueError(f"box must be four numbers, got {self.box!r}") from None
        if not (0.0 <= x0 <= x1 <= 1.0 and 0.0 <= y0 <= y1 <= 1.0):
            raise ValueError(
                f"box must be (x_min, y_min, x_max, y_max) within [0, 1], got {self.box!r}"
            )
        if self.onset is not None and self.onset.tzinfo is None:
            raise ValueError("onset must be timezone-aware")
        object.__setattr__(self, "confidence", float(confidence))
        object.__setattr__(self, "box", (x0, y0, x1, y1))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))


#: Most events one RiskScore may name as related.
MAX_RELATED_EVENTS = 100

#: Whose events a rule asks for: the same operator's, register's or store's.
By = Literal["operator", "register", "store"]


class RuleContext(Protocol):
    """The event history, as a rule plugin asks it about the event it scores
    (``score_event(event, options, context)``).

    Windows end at the scored event's ``occurred_at`` and reach back
    ``within_seconds``; the scored event itself is never included, events that
    occurred after it (sent late) are not either. ``types`` are PosEvent type
    names ("REFUND", "NO_SALE", ...). The methods query the events store
    (indexed, about a millisecond each) and block: call them from a plain
    (sync) rule, which runs in a thread of its own, or through
    ``asyncio.to_thread`` from a coroutine rule.
    """

    def events(
        self, types: Iterable[str], *, by: By, within_seconds: float, limit: int = 100
    ) -> tuple[PosEvent, ...]:
        """The operator's, register's or store's (``by``) events of ``types``
        in the window, newest first, at most ``limit`` (≤ 10,000)."""
        ...

    def count(self, types: Iterable[str], *, by: By, within_seconds: float) -> int:
        """How many such events the window holds (up to 10,000)."""
        ...

    def total(self, types: Iterable[str], *, by: By, within_seconds: float) -> Decimal:
        """The sum of their amounts, major units (events without one add 0)."""
        ...

    def transaction(self) -> tuple[PosEvent, ...]:
        """The earlier events of the scored event's transaction (same store and
        ``transaction_id``), oldest first; () when it has no transaction_id."""
        ...

    def original_transaction(self) -> tuple[PosEvent, ...]:
        """A refund's sale: the events of ``original_transaction_id`` in the
        same store, oldest first; () when none was given or none is stored."""
        ...
