"""Proto3 JSON in, with errors people can act on: the gateway's request
bodies and the POS events that arrive over MQTT are parsed here.

json_format's own messages are exact but cryptic for the common mistakes
("'float' object is not iterable" for ``"amount": 500.5``, "missing valid
timezone offset" for ``"yesterday"``); ``parse_json`` names the field and
says what it must look like instead. See
https://protobuf.dev/programming-guides/json/ for the mapping.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from eventclip.errors import InvalidArgument

M = TypeVar("M", bound=Message)

# json_format's ParseError texts end with the path of the bad value, e.g.
# '... Couldn't parse integer: 500.5 at PosEvent.amount.units..' or, for an
# unknown key, 'has no field named "bogus" at "PosEvent".'.
_UNKNOWN_FIELD = re.compile(r'has no field named "(?P<name>[^"]+)" at "(?P<path>[^"]+)"')
_BAD_VALUE = re.compile(r" at (?P<path>[A-Za-z_][\w.\[\]]*?)\.*$", re.MULTILINE)

#: Well-known types whose JSON is not their fields (json_format._WKTJSONMETHODS).
WELL_KNOWN_TYPES = frozenset(
    {
        "google.protobuf.Any",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.ListValue",
        "google.protobuf.Struct",
        "google.protobuf.Timestamp",
        "google.protobuf.Value",
    }
)
WRAPPER_FILES = frozenset({"google/protobuf/wrappers.proto"})


class JsonFieldError(InvalidArgument):
    """A JSON value that is not the message asked for. The message says what
    is wrong in plain words; ``field`` is the lowerCamelCase path of the bad
    value (``amount.units``, ``lines[0].amount``), None when unknown."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


def parse_json(data: Any, message_type: type[M]) -> M:
    """Parse a decoded JSON value (proto3 JSON mapping) into ``message_type``,
    unknown fields rejected. Raises JsonFieldError: for the mistakes people
    make (a number for a Money, a time without an RFC 3339 form, an enum name
    that does not exist, a fraction in an integer) in plain words, otherwise
    json_format's message, which names the field."""
    if not isinstance(data, dict):
        raise JsonFieldError(
            f"expected a JSON object ({message_type.DESCRIPTOR.name}), not {type(data).__name__}",
            None,
        )
    try:
        return json_format.ParseDict(data, message_type(), ignore_unknown_fields=False)
    except json_format.ParseError as err:
        if plain := _explain(data, message_type.DESCRIPTOR, ""):
            path, message = plain
            raise JsonFieldError(f"{path} {message}", path) from err
        message = str(err)
        raise JsonFieldError(message, _field_of(message)) from err


#: RFC 3339 as proto3 JSON takes it: a date, "T", a time and a zone.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
_INTEGER = re.compile(r"-?\d+")
_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
#: What a JSON value of a message type looks like, for the messages people send.
_EXAMPLES = {
    "google.type.Money": '{"currencyCode": "USD", "units": "500", "nanos": 500000000}',
}


def _explain(data: Any, descriptor: Descriptor, prefix: str) -> tuple[str, str] | None:
    """The first value of ``data`` a person sent in the wrong shape, as
    (lowerCamelCase path, what is wrong in plain words); None when nothing is
    found here (json_format's own message is used then). It covers the
    mistakes its messages leave unclear: a number for a Money, a time without
    an RFC 3339 form, an enum name that does not exist."""
    if not isinstance(data, dict):
        return None
    fields = {f.json_name: f for f in descriptor.fields} | {f.name: f for f in descriptor.fields}
    for key, value in data.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        path = f"{prefix}{field.json_name}"
        repeated = field.is_repeated and not (
            field.message_type and field.message_type.GetOptions().map_entry
        )
        items = value if repeated and isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{path}[{i}]" if repeated and isinstance(value, list) else path
            if found := _explain_value(item, field, where):
                return found
    return None


def _explain_value(value: Any, field: FieldDescriptor, path: str) -> tuple[str, str] | None:
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        names = [v.name for v in field.enum_type.values if v.number != 0]
        if isinstance(value, str) and value not in field.enum_type.values_by_name:
            return path, f"must be one of {', '.join(names)}, not {value!r}"
        return None
    if field.cpp_type in _INTEGER_TYPES:
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if not whole and not (isinstance(value, str) and _INTEGER.fullmatch(value)):
            hint = " (the fraction of a Money goes in nanos)" if field.name == "units" else ""
            return path, f"must be a whole number{hint}, not {json.dumps(value)}"
        return None
    message = field.message_type
    if message is None or message.GetOptions().map_entry:
        return None
    if message.full_name == "google.protobuf.Timestamp":
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            return path, (
                "must be an RFC 3339 time with its time zone, such as "
                f'"2026-11-23T14:05:00Z" or "2026-11-23T09:05:00-05:00", not {json.dumps(value)}'
            )
        return None
    if message.full_name in WELL_KNOWN_TYPES or message.file.name in WRAPPER_FILES:
        return None
    if not isinstance(value, dict):
        example = _EXAMPLES.get(message.full_name, "{...}")
        return path, (
            f"must be a JSON object ({message.name}, e.g. {example}), not {json.dumps(value)}"
        )
    return _explain(value, message, f"{path}.")


def _field_of(message: str) -> str | None:
    """The field path named by a json_format.ParseError text, without the root
    message name ("PosEvent.amount.units" -> "amount.units"); None if absent."""
    if m := _UNKNOWN_FIELD.search(message):
        path = [*m["path"].split(".")[1:], m["name"]]
        return ".".join(path)
    if m := _BAD_VALUE.search(message.splitlines()[0]):
        return ".".join(m["path"].split(".")[1:]) or None
    return None
