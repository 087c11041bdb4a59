"""Conversions between protobuf Timestamp/Duration and Python datetimes (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp


def utcnow() -> datetime:
    return datetime.now(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_timestamp(value: datetime | float) -> Timestamp:
    """A Timestamp from an aware datetime or from seconds since the Unix epoch."""
    if isinstance(value, datetime):
        # What Timestamp.FromDatetime computes, by timedelta arithmetic rather
        # than timegm(utctimetuple()): a page of clips makes hundreds of these.
        delta = value - _EPOCH
        return Timestamp(
            seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000
        )
    ts = Timestamp()
    ts.FromNanoseconds(round(value * 1e9))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    """An aware UTC datetime from a Timestamp."""
    return ts.ToDatetime(tzinfo=UTC)


def timestamp_seconds(ts: Timestamp) -> float:
    """Seconds since the Unix epoch (float, ns resolution kept to ~0.2 us)."""
    return ts.seconds + ts.nanos / 1e9


def to_duration(seconds: float | timedelta) -> Duration:
    d = Duration()
    if isinstance(seconds, timedelta):
        d.FromTimedelta(seconds)
    else:
        d.FromNanoseconds(round(seconds * 1e9))
    return d


def duration_seconds(d: Duration) -> float:
    return d.seconds + d.nanos / 1e9


def rfc3339(value: datetime) -> str:
    """``value`` as RFC 3339 in UTC with exactly six fractional digits and ``Z``
    (``2026-11-23T16:03:02.123456Z``): one fixed form, so documents that are
    hashed or signed can be reproduced byte for byte."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime (as SQLite returns them) as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(seconds: float) -> str:
    """Seconds since the epoch as ``2024-05-01T12:00:01.250Z`` for messages."""
    text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
