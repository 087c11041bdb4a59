"""Every gRPC request checked at the edge, before any handler or database sees it.

Hand-made calls found requests that reached PostgreSQL and came back INTERNAL
with the SQL: a NUL byte in any string (PostgreSQL refuses it in text), a
10 MB id overflowing ``varchar(128)``, timestamps no datetime column holds.
``check_request`` walks any request message (nested messages, repeated fields
and maps included) and refuses, as INVALID_ARGUMENT naming the field by its
proto name as the services' other errors do (``event.store_id``):

* strings holding NUL or another control character (C0 or DEL; tab, line feed
  and carriage return are allowed), and strings longer than their column:
  ``*_id``/``id`` fields ``MAX_ID_CHARS``, any other ``MAX_TEXT_CHARS``;
* timestamps outside [1970-01-01, 2100-01-01) (what every column and Python
  datetime holds; events narrow it to 2000.., see ``eventclip.events``);
* negative durations and durations over ``MAX_DURATION_SECONDS``;
* NaN or infinite floats.

``eventclip.rpc.grpc_method`` applies it to every unary request.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from eventclip.errors import InvalidArgument

#: Longest id: the ``varchar(128)`` id columns.
MAX_ID_CHARS = 128
#: Longest free text (reasons, notes, attribute values).
MAX_TEXT_CHARS = 4096
#: Longest duration in a request (a clip window is bounded far lower by
#: ``clips.max_seconds``, checked where it is known).
MAX_DURATION_SECONDS = 7 * 24 * 3600
#: Timestamps accepted anywhere: [1970-01-01, 2100-01-01) UTC, seconds.
MIN_TIME = 0
MAX_TIME = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"


def check_request(message: Message) -> None:
    """Raise InvalidArgument for the first field of ``message`` that breaks a
    rule above; return None when every field holds."""
    _check(message, "")


def _check(message: Message, prefix: str) -> None:
    name = message.DESCRIPTOR.full_name
    if name == _TIMESTAMP:
        if not MIN_TIME <= message.seconds < MAX_TIME:  # type: ignore[attr-defined]
            raise InvalidArgument(
                f"{prefix}: {message.seconds} s since 1970 is outside "  # type: ignore[attr-defined]
                "1970-01-01 .. 2100-01-01"
            )
        return
    if name == _DURATION:
        seconds = message.seconds + message.nanos / 1e9  # type: ignore[attr-defined]
        if not 0 <= seconds <= MAX_DURATION_SECONDS:
            raise InvalidArgument(
                f"{prefix}: {seconds:g} s is outside 0 .. {MAX_DURATION_SECONDS} s"
            )
        return
    for field, value in message.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                _check_scalar(field, key, f"{path}[{key!r}] key", is_id=True)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    _check(item, f"{path}[{key!r}]")
                else:
                    _check_scalar(value_field, item, f"{path}[{key!r}]", is_id=False)
            continue
        items = value if field.is_repeated else [value]
        for n, item in enumerate(items):
            where = f"{path}[{n}]" if field.is_repeated else path
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                _check(item, where)
            else:
                is_id = field.name == "id" or field.name.endswith(("_id", "_ids"))
                _check_scalar(field, item, where, is_id=is_id)


def _check_scalar(field: FieldDescriptor, value: object, path: str, *, is_id: bool) -> None:
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise InvalidArgument(f"{path}: control characters (such as NUL) are not allowed")
        limit = MAX_ID_CHARS if is_id else MAX_TEXT_CHARS
        if len(value) > limit:
            raise InvalidArgument(f"{path}: {len(value)} characters, at most {limit} allowed")
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{path}: {value} is not a finite number")
