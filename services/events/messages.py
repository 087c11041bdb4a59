"""The wire boundary of the events service: PosEvent validation, and conversions
between protos (eventclip.v1.events), table rows and the plugin types."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from google.type.money_pb2 import Money

from eventclip.config import Settings
from eventclip.errors import InvalidArgument, NotFound
from eventclip.events import types
from eventclip.events.models import AlertRecord, PosEventRecord
from eventclip.timeutil import as_utc, from_timestamp, to_timestamp
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


def _validate_money(money: Money, field: str) -> None:
    if not CURRENCY_PATTERN.fullmatch(money.currency_code):
        raise InvalidArgument(
            f"{field}.currency_code must be three upper-case letters (ISO 4217), "
            f"got {money.currency_code!r}"
        )
    if money.units < 0:
        raise InvalidArgument(f"{field}.units must not be negative (got {money.units})")
    if money.nanos < 0:
        raise InvalidArgument(f"{field}.nanos must not be negative (got {money.nanos})")
    if money.nanos >= NANOS_PER_UNIT:
        raise InvalidArgument(f"{field}.nanos must be below 1000000000 (got {money.nanos})")


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
        fingerprint=fingerprint(event),
        create_time=now,
    )


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
        events_pb2.RuleResult(rule=r["rule"], score=r["score"], reason=r["reason"]) for r in reasons
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
    )
