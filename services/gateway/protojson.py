"""Proto3 JSON mapping in and out of the gateway (what grpc-gateway and Envoy's
gRPC-JSON transcoder speak): lowerCamelCase names, Timestamps as RFC 3339
strings, Durations as "1.5s", int64 as decimal strings, enums by name.

See https://protobuf.dev/programming-guides/json/.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from fastapi import Request
from google.protobuf import json_format
from google.protobuf.message import Message

from eventclip.gateway.errors import invalid_argument

M = TypeVar("M", bound=Message)

# json_format's ParseError texts end with the path of the bad value, e.g.
# '... Couldn't parse integer: 500.5 at PosEvent.amount.units..' or, for an
# unknown key, 'has no field named "bogus" at "PosEvent".'.
_UNKNOWN_FIELD = re.compile(r'has no field named "(?P<name>[^"]+)" at "(?P<path>[^"]+)"')
_BAD_VALUE = re.compile(r" at (?P<path>[A-Za-z_][\w.\[\]]*?)\.*$", re.MULTILINE)


def to_json(message: Message) -> dict[str, Any]:
    """A message as a proto3 JSON dict.

    Scalars, repeated fields and maps are printed even when empty (``"clips": []``,
    ``"nextPageToken": ""``), as grpc-gateway v2 does by default, so clients see
    one stable shape; message fields that are unset (e.g. ``alert`` when none was
    raised) are left out.
    """
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=False,
        always_print_fields_with_no_presence=True,
    )


def parse(data: Any, message_type: type[M]) -> M:
    """Parse a decoded JSON value into ``message_type`` (unknown fields rejected).

    Raises ApiError 400 INVALID_ARGUMENT whose message is json_format's (it names
    the field) plus a BadRequest field violation with the lowerCamelCase path
    (e.g. ``amount.units``) when the path can be read from it.
    """
    if not isinstance(data, dict):
        raise invalid_argument(
            f"request body must be a JSON object ({message_type.DESCRIPTOR.name}), "
            f"not {type(data).__name__}"
        )
    try:
        return json_format.ParseDict(data, message_type(), ignore_unknown_fields=False)
    except json_format.ParseError as err:
        message = str(err)
        raise invalid_argument(message, field=_field_of(message)) from err


def _field_of(message: str) -> str | None:
    """The field path named by a json_format.ParseError text, without the root
    message name ("PosEvent.amount.units" -> "amount.units"); None if absent."""
    if m := _UNKNOWN_FIELD.search(message):
        path = [*m["path"].split(".")[1:], m["name"]]
        return ".".join(path)
    if m := _BAD_VALUE.search(message.splitlines()[0]):
        return ".".join(m["path"].split(".")[1:]) or None
    return None


async def read_json(request: Request) -> Any:
    """The request body decoded as JSON. Raises ApiError 400 when it is empty or
    not valid JSON (the message gives the line and column)."""
    raw = await request.body()
    if not raw.strip():
        raise invalid_argument("request body is empty; expected a JSON object")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise invalid_argument(f"request body is not valid JSON: {err}") from err
