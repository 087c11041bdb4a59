"""A POS event's receipt as timed text over its clip: which lines were rung up
by each moment of the video, the way exception-reporting systems show the
transaction beside the picture. ``GET /api/v1/clips/{id}/receipt.vtt``
serves it as WebVTT (https://www.w3.org/TR/webvtt1/) for an HTML ``<track>``.

Times: a line is shown from its ``scanned_at`` (the event's ``occurred_at``
when not sent); the event's own line (type, amount, tender) from
``occurred_at``. Both are POS clock times, moved onto the cameras' clock by
the alert's correction (``Alert.occurred_at`` minus the event's, the
register's clock offset), then made relative to the clip's first frame
(``media_start_time``). Each cue holds the receipt so far and lasts until the
next moment, the last one until the clip ends.

Card numbers never reach eventclip whole (a tender carries the last four
digits); any run of 13 to 19 digits in a description is masked anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from eventclip.events.messages import money_to_decimal
from eventclip.events.types import format_money
from eventclip.timeutil import from_timestamp
from eventclip.v1 import events_pb2

#: Lines shown at once: the newest ones (a long receipt scrolls).
MAX_LINES_SHOWN = 8
_CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


@dataclass(frozen=True)
class Cue:
    """Text shown from ``start`` to ``end`` seconds after the clip's first frame."""

    start: float
    end: float
    text: str


def mask(text: str) -> str:
    """``text`` with anything that looks like a card number masked."""
    return _CARD_NUMBER.sub(lambda m: "**** " + re.sub(r"\D", "", m.group())[-4:], text)


def receipt_cues(
    event: events_pb2.PosEvent,
    on_video: datetime,
    media_start: datetime,
    media_end: datetime,
) -> list[Cue]:
    """The cues of ``event``'s receipt over a clip showing ``media_start`` ..
    ``media_end`` (wall clock, UTC); ``on_video``: the event's time on the
    cameras' clock (``Alert.occurred_at``). Empty when the clip has no
    length. Seconds, relative to ``media_start``."""
    length = (media_end - media_start).total_seconds()
    if length <= 0:
        return []
    shift = on_video - from_timestamp(event.occurred_at)
    currency = event.amount.currency_code or None
    # (when, order, the line's text); None: the event itself, after the lines
    # rung up by then.
    moments: list[tuple[datetime, int, str | None]] = [
        (
            from_timestamp(line.scanned_at) + shift if line.HasField("scanned_at") else on_video,
            n,
            _line_text(line, currency),
        )
        for n, line in enumerate(event.lines)
    ]
    moments.append((on_video, len(event.lines), None))
    moments.sort(key=lambda m: (m[0], m[1]))
    header, footer = _header(event), _footer(event)
    cues: list[Cue] = []
    shown: list[str] = []
    for k, (when, _, text) in enumerate(moments):
        if text is not None:
            shown.append(text)
        start = max(0.0, (when - media_start).total_seconds())
        end = length
        if k + 1 < len(moments):
            end = min(length, (moments[k + 1][0] - media_start).total_seconds())
        body = [header, *shown[-MAX_LINES_SHOWN:]]
        if when >= on_video:
            body.append(footer)
        if end > start:
            cues.append(Cue(round(start, 3), round(end, 3), mask("\n".join(body))))
    return cues


def _header(event: events_pb2.PosEvent) -> str:
    parts = [events_pb2.PosEvent.Type.Name(event.type).replace("_", " ")]
    if event.transaction_id:
        parts.append(f"transaction {event.transaction_id}")
    if event.operator_id:
        parts.append(f"operator {event.operator_id}")
    return " · ".join(parts)


def _line_text(line: events_pb2.PosLine, currency: str | None) -> str:
    quantity = Decimal(repr(line.quantity)) if line.quantity else Decimal(1)
    text = f"{quantity:g} x {line.description or line.sku}  {format_money(money_to_decimal(line.amount), currency)}"
    return f"VOID {text}" if line.voided else text


def _footer(event: events_pb2.PosEvent) -> str:
    parts = []
    if event.HasField("amount"):
        parts.append(
            f"total {format_money(money_to_decimal(event.amount), event.amount.currency_code)}"
        )
    if event.HasField("tender"):
        kind = events_pb2.Tender.Kind.Name(event.tender.kind)
        tender = "tender" if kind == "KIND_UNSPECIFIED" else kind.lower().replace("_", " ")
        if event.tender.card_last4:
            tender += f" **** {event.tender.card_last4}"
        parts.append(tender)
    if event.approver_id:
        parts.append(f"approved by {event.approver_id}")
    elif event.type in (events_pb2.PosEvent.REFUND, events_pb2.PosEvent.VOID):
        parts.append("no approval")
    return " · ".join(parts) or events_pb2.PosEvent.Type.Name(event.type)


def webvtt(cues: list[Cue]) -> str:
    """``cues`` as a WebVTT file (UTF-8 text)."""
    blocks = ["WEBVTT", ""]
    for n, cue in enumerate(cues, 1):
        blocks += [str(n), f"{_vtt_time(cue.start)} --> {_vtt_time(cue.end)}", cue.text, ""]
    return "\n".join(blocks)


def _vtt_time(seconds: float) -> str:
    whole = timedelta(seconds=round(seconds, 3))
    total_ms = int(whole.total_seconds() * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
