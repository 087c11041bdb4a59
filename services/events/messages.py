"""The wire boundary of the events service: PosEvent validation, and conversions
between protos (eventclip.v1.events), table rows and the plugin types."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision, list_currencies
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.money_pb2 import Money

from eventclip.config import Settings
from eventclip.errors import InvalidArgument, NotFound
from eventclip.events import types
from eventclip.events.models import AlertRecord, PosEventRecord
from eventclip.timeutil import as_utc, from_timestamp, to_duration, to_timestamp
from eventclip.v1 import events_pb2

PosEventType = events_pb2.PosEvent.Type

#: Event types that move money and so must carry an amount. NO_SALE (the drawer
#: opened without a sale) is the one that may come without.
AMOUNT_REQUIRED = frozenset(
    {
        PosEventType.SALE,
        PosEventType.REFUND,
        PosEventType.VOID,
        PosEventType.PRICE_OVERRIDE,
        PosEventType.DISCOUNT,
    }
)

KNOWN_TYPES = frozenset(PosEventType.values())

#: Idempotency keys: 1-128 printable ASCII characters, no spaces (UUIDs, ULIDs,
#: "store-12/reg-3/000123"...).
EVENT_ID_PATTERN = re.compile(r"[!-~]{1,128}")
MAX_ID_LENGTH = 128
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
NANOS_PER_UNIT = 1_000_000_000
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_KEY = 128
MAX_ATTRIBUTE_VALUE = 1024
MAX_LINES = 500
MAX_DESCRIPTION = 256
MAX_QUANTITY = 1_000_000
CARD_LAST4_PATTERN = re.compile(r"[0-9]{4}")
#: ISO 4217 codes (CLDR's list, through Babel).
KNOWN_CURRENCIES = frozenset(list_currencies())


#: POS events are dated within [2000-01-01, 2100-01-01) UTC (seconds since 1970).
EARLIEST_EVENT = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
LATEST_EVENT = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())


def _describe_time(ts: Timestamp) -> str:
    try:
        return from_timestamp(ts).isoformat()
    except (ValueError, OverflowError):
        return f"({ts.seconds} s since 1970)"


def validate_event(event: events_pb2.PosEvent, settings: Settings) -> None:
    """Check a submitted PosEvent. Raises InvalidArgument naming the first bad
    field (``event.amount.nanos``...), NotFound for a register not in the config.

    Amount rules (google/type/money.proto): ``currency_code`` is three upper-case
    letters (ISO 4217), ``units`` and ``nanos`` are never negative here (the event
    type says which way money moved) and ``nanos`` < 10^9.
    """
    if not event.event_id:
        raise InvalidArgument("event.event_id is required (the idempotency key)")
    if not EVENT_ID_PATTERN.fullmatch(event.event_id):
        raise InvalidArgument(
            "event.event_id must be 1-128 printable ASCII characters without spaces"
        )
    if event.type == PosEventType.TYPE_UNSPECIFIED:
        raise InvalidArgument("event.type is required (SALE, REFUND, VOID, ...)")
    if event.type not in KNOWN_TYPES:
        raise InvalidArgument(f"event.type {event.type} is not a known PosEvent.Type")
    detection = event.type == PosEventType.DETECTION
    if detection != event.HasField("detection"):
        raise InvalidArgument(
            "event.detection is required for a DETECTION event (use SubmitDetection)"
            if detection
            else "event.detection is only for DETECTION events"
        )
    for name in () if detection else ("store_id", "register_id"):
        if not getattr(event, name):
            raise InvalidArgument(f"event.{name} is required")
    for name in ("store_id", "register_id", "operator_id", "approver_id", "transaction_id"):
        if len(getattr(event, name)) > MAX_ID_LENGTH:
            raise InvalidArgument(f"event.{name} is longer than {MAX_ID_LENGTH} characters")
    if not event.HasField("occurred_at"):
        raise InvalidArgument("event.occurred_at is required")
    if not EARLIEST_EVENT <= event.occurred_at.seconds < LATEST_EVENT:
        raise InvalidArgument(
            f"event.occurred_at {_describe_time(event.occurred_at)} is outside the years "
            "2000 .. 2099 a POS event can be dated"
        )
    if event.HasField("amount"):
        _validate_money(event.amount, "event.amount")
    elif event.type in AMOUNT_REQUIRED:
        type_name = PosEventType.Name(event.type)
        raise InvalidArgument(f"event.amount is required for a {type_name} event")
    if event.HasField("sent_at") and not EARLIEST_EVENT <= event.sent_at.seconds < LATEST_EVENT:
        raise InvalidArgument(
            f"event.sent_at {_describe_time(event.sent_at)} is outside the years 2000 .. 2099"
        )
    for name in ("customer_id", "original_transaction_id"):
        if len(getattr(event, name)) > MAX_ID_LENGTH:
            raise InvalidArgument(f"event.{name} is longer than {MAX_ID_LENGTH} characters")
    _validate_receipt(event)
    if len(event.attributes) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"event.attributes has more than {MAX_ATTRIBUTES} entries")
    for key, value in event.attributes.items():
        if len(key) > MAX_ATTRIBUTE_KEY or len(value) > MAX_ATTRIBUTE_VALUE:
            raise InvalidArgument(
                f"event.attributes[{key[:40]!r}]: keys are at most {MAX_ATTRIBUTE_KEY} and "
                f"values at most {MAX_ATTRIBUTE_VALUE} characters"
            )
    if detection:
        validate_detection(event.detection, settings)
    elif settings.register(event.register_id) is None:
        known = ", ".join(r.id for r in settings.registers) or "none"
        raise NotFound(f"register {event.register_id} is not configured; known: {known}")


def box_corners(box: events_pb2.BoundingBox) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of a BoundingBox, normalized [0, 1]."""
    return (box.x_min, box.y_min, box.x_max, box.y_max)


def bounding_box(corners: Sequence[float]) -> events_pb2.BoundingBox:
    """The BoundingBox of (x_min, y_min, x_max, y_max), normalized [0, 1]."""
    x_min, y_min, x_max, y_max = corners
    return events_pb2.BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)


def validate_detection(detection: events_pb2.Detection, settings: Settings) -> None:
    """Check a Detection (``event.detection.*`` in messages). Raises
    InvalidArgument naming the field, NotFound for a camera not in the config."""
    if not detection.camera_id:
        raise InvalidArgument("event.detection.camera_id is required")
    if not detection.label:
        raise InvalidArgument("event.detection.label is required")
    for name in ("camera_id", "label", "detector"):
        if len(getattr(detection, name)) > MAX_ID_LENGTH:
            raise InvalidArgument(
                f"event.detection.{name} is longer than {MAX_ID_LENGTH} characters"
            )
    if not 0.0 <= detection.confidence <= 1.0:  # NaN fails too
        raise InvalidArgument(
            f"event.detection.confidence must be in [0, 1], got {detection.confidence!r}"
        )
    corners = x_min, y_min, x_max, y_max = box_corners(detection.box)
    if not (0.0 <= x_min <= x_max <= 1.0 and 0.0 <= y_min <= y_max <= 1.0):
        raise InvalidArgument(
            "event.detection.box must hold 0 <= x_min <= x_max <= 1 and "
            f"0 <= y_min <= y_max <= 1 (normalized image coordinates), got {corners}"
        )
    if settings.camera(detection.camera_id) is None:
        known = ", ".join(c.id for c in settings.cameras) or "none"
        raise NotFound(f"camera {detection.camera_id} is not configured; known: {known}")


def _validate_receipt(event: events_pb2.PosEvent) -> None:
    """The lines and tender: amounts in the event's currency, quantities > 0,
    a card's last four digits only."""
    currency = event.amount.currency_code if event.HasField("amount") else None
    if len(event.lines) > MAX_LINES:
        raise InvalidArgument(f"event.lines has {len(event.lines)} lines; at most {MAX_LINES}")
    for i, line in enumerate(event.lines):
        where = f"event.lines[{i}]"
        for name, limit in (("sku", MAX_ID_LENGTH), ("description", MAX_DESCRIPTION)):
            if len(getattr(line, name)) > limit:
                raise InvalidArgument(f"{where}.{name} is longer than {limit} characters")
        if not 0 <= line.quantity <= MAX_QUANTITY:  # NaN fails too; 0 means 1
            raise InvalidArgument(
                f"{where}.quantity must be from 0 to {MAX_QUANTITY} (units, or weight for "
                f"goods sold by weight; 0 or unset means 1), got {line.quantity!r}"
            )
        if not line.HasField("amount"):
            raise InvalidArgument(f"{where}.amount is required (the line's total)")
        for name in ("amount", "list_amount"):
            if line.HasField(name):
                _validate_money(getattr(line, name), f"{where}.{name}", currency)
        if line.HasField("scanned_at") and not (
            EARLIEST_EVENT <= line.scanned_at.seconds < LATEST_EVENT
        ):
            raise InvalidArgument(
                f"{where}.scanned_at {_describe_time(line.scanned_at)} is outside the years "
                "2000 .. 2099"
            )
    if event.HasField("tender"):
        tender = event.tender
        if tender.kind not in events_pb2.Tender.Kind.values():
            raise InvalidArgument(f"event.tender.kind {tender.kind} is not a known Tender.Kind")
        if tender.HasField("amount"):
            _validate_money(tender.amount, "event.tender.amount", currency)
        if tender.card_last4 and not CARD_LAST4_PATTERN.fullmatch(tender.card_last4):
            raise InvalidArgument(
                'event.tender.card_last4 must be the card\'s last four digits, e.g. "4242"; '
                "never send a whole card number (PCI DSS)"
            )


def _validate_money(money: Money, field: str, currency: str | None = None) -> None:
    """A non-negative google.type.Money in a known ISO 4217 currency, within
    that currency's minor units (USD 500.12, not 500.123; JPY 500, not 500.5);
    ``currency``: the one it must be in (the event's), if any."""
    code = money.currency_code
    if not CURRENCY_PATTERN.fullmatch(code):
        raise InvalidArgument(
            f"{field}.currency_code must be three upper-case letters (ISO 4217), got {code!r}"
        )
    if code not in KNOWN_CURRENCIES:
        raise InvalidArgument(f"{field}.currency_code {code} is not an ISO 4217 currency")
    if currency is not None and code != currency:
        raise InvalidArgument(
            f"{field} is in {code} but the event's amount is in {currency}; "
            "one event has one currency"
        )
    if money.units < 0:
        raise InvalidArgument(f"{field}.units must not be negative (got {money.units})")
    if money.nanos < 0:
        raise InvalidArgument(f"{field}.nanos must not be negative (got {money.nanos})")
    if money.nanos >= NANOS_PER_UNIT:
        raise InvalidArgument(f"{field}.nanos must be below 1000000000 (got {money.nanos})")
    digits = get_currency_precision(code)
    if money.nanos % 10 ** (9 - digits):
        amount = money_to_decimal(money)
        places = f"{digits} decimal places" if digits else "no decimal places"
        raise InvalidArgument(
            f"{field} is {code} {amount}, but {code} has {places}: "
            f"round it to {amount.quantize(Decimal(1).scaleb(-digits))} "
            f"(nanos a multiple of {10 ** (9 - digits)})"
        )


def fingerprint(event: events_pb2.PosEvent) -> str:
    """SHA-256 (hex) of the event's deterministic serialization: equal for a
    retry of the same event, different when any field differs."""
    return hashlib.sha256(event.SerializeToString(deterministic=True)).hexdigest()


def money_to_decimal(money: Money) -> Decimal:
    """Exact major-unit amount of a (non-negative) Money: units + nanos / 10^9,
    without trailing zeros (units=500, nanos=500000000 -> Decimal("500.5"))."""
    return Decimal(f"{money.units}.{money.nanos:09d}".rstrip("0").rstrip("."))


def to_plugin_event(event: events_pb2.PosEvent) -> types.PosEvent:
    """The frozen PosEvent that rule plugins receive, from a validated message."""
    has_amount = event.HasField("amount")
    return types.PosEvent(
        event_id=event.event_id,
        type=PosEventType.Name(event.type),
        store_id=event.store_id,
        register_id=event.register_id,
        occurred_at=from_timestamp(event.occurred_at),
        amount=money_to_decimal(event.amount) if has_amount else None,
        currency=event.amount.currency_code if has_amount else None,
        operator_id=event.operator_id,
        approver_id=event.approver_id,
        transaction_id=event.transaction_id,
        attributes=dict(event.attributes),
        camera_id=event.detection.camera_id,
        detection=_plugin_detection(event) if event.HasField("detection") else None,
        lines=tuple(_plugin_line(line) for line in event.lines),
        tender=_plugin_tender(event.tender) if event.HasField("tender") else None,
        customer_id=event.customer_id,
        original_transaction_id=event.original_transaction_id,
        sent_at=from_timestamp(event.sent_at) if event.HasField("sent_at") else None,
    )


def from_plugin_event(event: types.PosEvent) -> events_pb2.PosEvent:
    """The PosEvent message of a plugin-side PosEvent (the inverse of
    ``to_plugin_event``, for eventclip.testing). Raises ValueError for an
    amount with more than nine decimals."""
    message = events_pb2.PosEvent(
        event_id=event.event_id,
        type=PosEventType.Value(event.type),
        store_id=event.store_id,
        register_id=event.register_id,
        operator_id=event.operator_id,
        approver_id=event.approver_id,
        transaction_id=event.transaction_id,
        occurred_at=to_timestamp(event.occurred_at),
        attributes=dict(event.attributes),
        customer_id=event.customer_id,
        original_transaction_id=event.original_transaction_id,
    )
    currency = event.currency or "USD"
    if event.amount is not None:
        message.amount.CopyFrom(decimal_to_money(event.amount, currency))
    for line in event.lines:
        message.lines.add(
            sku=line.sku,
            description=line.description,
            quantity=float(line.quantity),
            amount=decimal_to_money(line.amount, currency),
            voided=line.voided,
        )
        if line.scanned_at is not None:
            message.lines[-1].scanned_at.CopyFrom(to_timestamp(line.scanned_at))
        if line.list_amount is not None:
            message.lines[-1].list_amount.CopyFrom(decimal_to_money(line.list_amount, currency))
    if event.tender is not None:
        message.tender.kind = events_pb2.Tender.Kind.Value(event.tender.kind)
        message.tender.card_last4 = event.tender.card_last4
        if event.tender.amount is not None:
            message.tender.amount.CopyFrom(decimal_to_money(event.tender.amount, currency))
    if event.sent_at is not None:
        message.sent_at.CopyFrom(to_timestamp(event.sent_at))
    return message


def decimal_to_money(amount: Decimal, currency: str) -> Money:
    """A non-negative Decimal (major units) as google.type.Money. Raises
    ValueError below zero or below a nano."""
    nanos_total = amount * NANOS_PER_UNIT
    if amount < 0 or nanos_total != nanos_total.to_integral_value():
        raise ValueError(f"{amount} is not a non-negative amount in whole nanos")
    units, nanos = divmod(int(nanos_total), NANOS_PER_UNIT)
    return Money(currency_code=currency, units=units, nanos=nanos)


def _plugin_line(line: events_pb2.PosLine) -> types.PosLine:
    return types.PosLine(
        sku=line.sku,
        description=line.description,
        # The double as written (0.455, not 0.45500000000000001554...).
        quantity=Decimal(repr(line.quantity)) if line.quantity else Decimal(1),
        amount=money_to_decimal(line.amount),
        voided=line.voided,
        scanned_at=from_timestamp(line.scanned_at) if line.HasField("scanned_at") else None,
        list_amount=money_to_decimal(line.list_amount) if line.HasField("list_amount") else None,
    )


def _plugin_tender(tender: events_pb2.Tender) -> types.Tender:
    return types.Tender(
        kind=events_pb2.Tender.Kind.Name(tender.kind),
        amount=money_to_decimal(tender.amount) if tender.HasField("amount") else None,
        card_last4=tender.card_last4,
    )


def _plugin_detection(event: events_pb2.PosEvent) -> types.Detection:
    found = event.detection
    return types.Detection(
        label=found.label,
        confidence=found.confidence,
        box=box_corners(found.box),
        onset=from_timestamp(event.occurred_at),
        attributes={"detector": found.detector} if found.detector else {},
    )


def to_record(event: events_pb2.PosEvent, now: datetime) -> PosEventRecord:
    """The pos_events row (the claim) for a validated message; no response yet."""
    has_amount = event.HasField("amount")
    return PosEventRecord(
        event_id=event.event_id,
        type=PosEventType.Name(event.type),
        store_id=event.store_id,
        register_id=event.register_id,
        operator_id=event.operator_id,
        approver_id=event.approver_id,
        transaction_id=event.transaction_id,
        amount_units=event.amount.units if has_amount else None,
        amount_nanos=event.amount.nanos if has_amount else None,
        currency_code=event.amount.currency_code if has_amount else None,
        occurred_at=from_timestamp(event.occurred_at),
        attributes=dict(event.attributes),
        detection=(
            json_format.MessageToDict(event.detection) if event.HasField("detection") else None
        ),
        customer_id=event.customer_id,
        original_transaction_id=event.original_transaction_id,
        receipt=_receipt_json(event),
        fingerprint=fingerprint(event),
        create_time=now,
    )


#: PosEvent fields kept in pos_events.receipt, as proto3 JSON.
RECEIPT_FIELDS = ("lines", "tender", "sent_at")


def _receipt_json(event: events_pb2.PosEvent) -> dict[str, Any] | None:
    """The receipt fields of ``event`` as proto3 JSON ({"lines": [...],
    "tender": {...}, "sentAt": "..."}), None when it has none."""
    receipt = events_pb2.PosEvent()
    receipt.lines.extend(event.lines)
    for name in ("tender", "sent_at"):
        if event.HasField(name):
            getattr(receipt, name).CopyFrom(getattr(event, name))
    return json_format.MessageToDict(receipt) or None


def event_message(record: PosEventRecord) -> events_pb2.PosEvent:
    """The PosEvent message a pos_events row was made from."""
    event = events_pb2.PosEvent(
        event_id=record.event_id,
        type=PosEventType.Value(record.type),
        store_id=record.store_id,
        register_id=record.register_id,
        operator_id=record.operator_id,
        approver_id=record.approver_id,
        transaction_id=record.transaction_id,
        occurred_at=to_timestamp(as_utc(record.occurred_at)),
        attributes=record.attributes,
    )
    if record.detection is not None:
        json_format.ParseDict(record.detection, event.detection)
    if record.receipt:
        json_format.ParseDict(record.receipt, event, ignore_unknown_fields=False)
    event.customer_id = record.customer_id
    event.original_transaction_id = record.original_transaction_id
    if record.currency_code is not None:
        event.amount.CopyFrom(
            Money(
                currency_code=record.currency_code,
                units=record.amount_units or 0,
                nanos=record.amount_nanos or 0,
            )
        )
    return event


def rule_results(reasons: Sequence[dict]) -> list[events_pb2.RuleResult]:
    return [
        events_pb2.RuleResult(
            rule=r["rule"],
            score=r["score"],
            reason=r["reason"],
            related_event_ids=r.get("related_event_ids", []),
        )
        for r in reasons
    ]


def alert_message(alert: AlertRecord, event: events_pb2.PosEvent) -> events_pb2.Alert:
    """The Alert message of an alerts row and the event that raised it."""
    return events_pb2.Alert(
        id=alert.id,
        event_id=alert.event_id,
        store_id=alert.store_id,
        register_id=alert.register_id,
        risk_score=alert.risk_score,
        reasons=rule_results(alert.reasons),
        clip_ids=alert.clip_ids,
        occurred_at=to_timestamp(as_utc(alert.occurred_at)),
        create_time=to_timestamp(as_utc(alert.create_time)),
        event=event,
        no_clip_reason=alert.no_clip_reason,
        pre_roll=(
            to_duration(alert.pre_roll_seconds) if alert.pre_roll_seconds is not None else None
        ),
    )
