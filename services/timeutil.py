"""Conversions between protobuf Timestamp/Duration and Python datetimes (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_timestamp(value: datetime | float) -> Timestamp:
    """A Timestamp from an aware datetime or from seconds since the Unix epoch."""
    ts = Timestamp()
    if isinstance(value, datetime):
        ts.FromDatetime(value.astimezone(UTC))
    else:
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


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime (as SQLite returns them) as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
