"""The gateway's proto3 JSON printer gives exactly what protobuf's json_format
gives, on every message of the eventclip.v1 contracts, empty and with every
field set."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from eventclip.gateway.errors import ApiError
from eventclip.gateway.protojson import parse, to_json
from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2


def messages_of(descriptor: Descriptor) -> Iterator[Descriptor]:
    yield descriptor
    for nested in descriptor.nested_types:
        if not nested.GetOptions().map_entry:
            yield from messages_of(nested)


CONTRACTS = [
    d
    for module in (buffer_pb2, clips_pb2, events_pb2)
    for top in module.DESCRIPTOR.message_types_by_name.values()
    for d in messages_of(top)
]


def fill(message: Message, depth: int = 0) -> Message:
    """Every field of ``message`` set to a value unlike its default (repeated
    fields and maps get two), sub-messages down to depth 3."""
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and field is not field.containing_oneof.fields[-1]:
            continue  # one member per oneof: the last
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            target = getattr(message, field.name)
            for n in range(2):
                key = value_for(entry.fields_by_name["key"], n)
                value_field = entry.fields_by_name["value"]
                if value_field.message_type is not None:
                    if depth < 3:
                        fill(target[key], depth + 1)
                else:
                    target[key] = value_for(value_field, n)
        elif field.message_type is not None:
            if depth >= 3 or field.message_type.full_name == "google.protobuf.Any":
                continue
            if field.is_repeated:
                for _ in range(2):
                    fill(getattr(message, field.name).add(), depth + 1)
            else:
                fill(getattr(message, field.name), depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend(value_for(field, n) for n in range(2))
        else:
            setattr(message, field.name, value_for(field, 1))
    if message.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = 1_700_000_000, 250_000_000
    if message.DESCRIPTOR.full_name == "google.protobuf.Duration":
        message.seconds, message.nanos = 90, 500_000_000
    return message


def value_for(field: FieldDescriptor, n: int) -> object:
    kind = field.cpp_type
    if field.type == FieldDescriptor.TYPE_BYTES:
        return bytes([0, 255, n, 42])
    if kind == FieldDescriptor.CPPTYPE_STRING:
        return f"{field.name}-{n}"
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return n % 2 == 1 or n == 0
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        return field.enum_type.values[-1 - n % len(field.enum_type.values)].number
    if kind in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return 0.1 + n  # 0.1 is not exact in float32: shortest-repr rounding shows
    if kind in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return 2**40 + n
    return 7 + n


def reference(message: Message) -> object:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


@pytest.mark.parametrize("descriptor", CONTRACTS, ids=lambda d: d.full_name)
def test_to_json_is_json_format(descriptor: Descriptor) -> None:
    cls = GetMessageClass(descriptor)
    empty = cls()
    assert to_json(empty) == reference(empty)
    full = fill(cls())
    assert to_json(full) == reference(full)
    assert list(to_json(full)) == [
        f.json_name for f in descriptor.fields if f.json_name in to_json(full)
    ]


def test_floats_that_are_not_numbers_print_as_json_format_says() -> None:
    camera = buffer_pb2.Camera(fps=math.inf)
    assert to_json(camera)["fps"] == reference(camera)["fps"] == "Infinity"
    camera.fps = math.nan
    assert to_json(camera)["fps"] == "NaN"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"amount": 500.5},
            "amount",
            'amount must be a JSON object (Money, e.g. {"currencyCode": "USD", "units": "500", '
            '"nanos": 500000000}), not 500.5',
        ),
        (
            {"occurredAt": "yesterday"},
            "occurredAt",
            'occurredAt must be an RFC 3339 time with its time zone, such as "2026-11-23T14:05:00Z"'
            ' or "2026-11-23T09:05:00-05:00", not "yesterday"',
        ),
        (
            {"occurredAt": "2026-11-23 10:00:00"},
            "occurredAt",
            "occurredAt must be an RFC 3339 time with its time zone",
        ),
        (
            {"amount": {"currencyCode": "USD", "units": "500.5"}},
            "amount.units",
            'amount.units must be a whole number (the fraction of a Money goes in nanos), not "500.5"',
        ),
        ({"type": "REFUN"}, "type", "type must be one of SALE, REFUND, VOID, NO_SALE,"),
        (
            {"lines": [{"sku": "1", "amount": 3}]},
            "lines[0].amount",
            "lines[0].amount must be a JSON object (Money",
        ),
    ],
)
def test_parse_says_in_plain_words_what_is_wrong(body: dict, field: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse(body, events_pb2.PosEvent)
    error = caught.value
    assert error.http_status == 400 and error.status == "INVALID_ARGUMENT"
    assert error.message.startswith(message), error.message
    assert error.details[0]["fieldViolations"][0]["field"] == field


def test_parse_still_reads_what_proto3_json_allows() -> None:
    event = parse(
        {
            "amount": {"currencyCode": "USD", "units": 500, "nanos": 0},
            "occurredAt": "2026-11-23T09:05:00.25-05:00",
            "type": "REFUND",
            "lines": [{"sku": "1", "quantity": 2, "amount": {"currencyCode": "USD", "units": "3"}}],
        },
        events_pb2.PosEvent,
    )
    assert event.amount.units == 500 and event.lines[0].amount.units == 3
    assert event.occurred_at.ToJsonString() == "2026-11-23T14:05:00.250Z"
