"""eventclip.timeutil: conversions between datetimes, seconds and protobuf."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from eventclip.timeutil import format_time, from_timestamp, to_timestamp


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 21, 15, 0, 0, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch
        datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
        datetime(1970, 1, 1, tzinfo=UTC),
    ],
)
def test_to_timestamp_agrees_with_protobuf(value: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(value.astimezone(UTC))
    assert to_timestamp(value) == expected
    assert from_timestamp(to_timestamp(value)) == value


def test_seconds_and_formatting() -> None:
    assert to_timestamp(1.5) == Timestamp(seconds=1, nanos=500_000_000)
    assert format_time(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
