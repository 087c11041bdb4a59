"""Keyset pagination shared by the List RPCs (AIP-158).

Listings are newest first by (create_time, id), so a page token is the position
of the last item returned plus the filters in force: stable while new rows
arrive (an offset would skip or repeat rows) and cheap on an index.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col

from eventclip.errors import InvalidArgument
from eventclip.timeutil import as_utc

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PageCursor:
    """Position of the last item of a page: its create_time (UTC) and id."""

    create_time: datetime
    id: str


def page_size(requested: int) -> int:
    """The page size to use for a request's ``page_size``: DEFAULT_PAGE_SIZE when
    0, at most MAX_PAGE_SIZE. Raises InvalidArgument when negative."""
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _pack(position: dict[str, Any], filters: Sequence[str]) -> str:
    payload = {**position, "f": list(filters)}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _unpack(token: str, filters: Sequence[str], filter_names: str, read: Any) -> Any:
    """``read(payload)`` of the token's payload. Raises InvalidArgument when the
    token is not one of ours, or was issued for other filters (``filter_names``
    names them in the message): AIP-158 says filters must not change between pages."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position = read(payload)
        issued_for = payload["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise InvalidArgument("page_token is invalid (use next_page_token as returned)") from err
    if issued_for != list(filters):
        raise InvalidArgument(f"page_token was issued for different {filter_names} filters")
    return position


def encode_page_token(cursor: PageCursor, filters: Sequence[str]) -> str:
    """An opaque URL-safe token for ``cursor`` bound to the request's ``filters``."""
    return _pack({"t": cursor.create_time.isoformat(), "id": cursor.id}, filters)


def decode_page_token(token: str, filters: Sequence[str], filter_names: str) -> PageCursor | None:
    """The cursor in ``token`` (None for an empty token, the first page).
    Raises InvalidArgument (see ``_unpack``)."""
    if not token:
        return None
    return _unpack(
        token,
        filters,
        filter_names,
        lambda p: PageCursor(as_utc(datetime.fromisoformat(p["t"])), str(p["id"])),
    )


def encode_sequence_token(after: int, filters: Sequence[str]) -> str:
    """A token for listings ordered by a per-parent sequence (oldest first):
    the next page starts after sequence ``after``."""
    return _pack({"after": after}, filters)


def decode_sequence_token(token: str, filters: Sequence[str], filter_names: str) -> int:
    """The sequence the page starts after (0 for an empty token). Raises
    InvalidArgument (see ``_unpack``)."""
    if not token:
        return 0
    return _unpack(token, filters, filter_names, lambda p: int(p["after"]))


def newest_first(query: Any, model: Any, after: PageCursor | None) -> Any:
    """``query`` ordered newest first by (model.create_time, model.id), starting
    strictly after ``after`` when given."""
    created, ident = col(model.create_time), col(model.id)
    if after is not None:
        query = query.where(
            or_(created < after.create_time, and_(created == after.create_time, ident < after.id))
        )
    return query.order_by(created.desc(), ident.desc())
