"""HTTP Range header parsing (RFC 9110 section 14) for clip media."""

from __future__ import annotations

import pytest

from eventclip.gateway.media import ByteRange, RangeNotSatisfiable, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-1099", ByteRange(100, 999)),  # last-pos past the end is clamped
        ("bytes=900-", ByteRange(900, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # suffix longer than the file: all of it
        ("bytes=999-999", ByteRange(999, 999)),
        ("Bytes = 5 - 9", ByteRange(5, 9)),
    ],
)
def test_satisfiable_ranges(header: str, expected: ByteRange) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "bytes=5-1",  # last < first: invalid, ignored
        "bytes=0-1,5-9",  # several ranges: served whole
        "items=0-1",
        "bytes=-",
        "bytes=abc",
    ],
)
def test_ignored_ranges_mean_the_whole_body(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", SIZE), ("bytes=-0", SIZE), ("bytes=-1", 0)]
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_content_range_header() -> None:
    assert ByteRange(100, 199).content_range(SIZE) == "bytes 100-199/1000"
    assert ByteRange(100, 199).length == 100
