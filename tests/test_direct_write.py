"""Clip files written straight to the disk: the bytes, in order, whatever the
buffers' sizes and alignment; the file cut to its size; the page cache left
alone (mincore(2) says which pages of a file are cached), and ordinary writes
where the file system refuses O_DIRECT."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import mmap
import os
import random
from pathlib import Path

import pytest

from eventclip import direct_write
from eventclip.direct_write import BLOCK_BYTES, STAGING_BYTES, write_durably

_libc = ctypes.CDLL(None, use_errno=True)


def cached_pages(path: Path) -> int:
    """How many of the file's pages are in the page cache (mincore(2))."""
    size = path.stat().st_size
    with path.open("rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        pages = -(-size // mmap.PAGESIZE)
        vector = (ctypes.c_ubyte * pages)()
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapped))
        if _libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        return sum(v & 1 for v in vector)


def odd_buffers(seed: int) -> list[bytes | memoryview]:
    """~9 MiB in pieces of odd sizes (1 byte to 300 KB), some as views into
    the middle of larger objects, so nothing is aligned."""
    rng = random.Random(seed)
    buffers: list[bytes | memoryview] = []
    total = 0
    while total < 2 * STAGING_BYTES + 12345:
        size = rng.choice([1, 7, 4095, 4097, rng.randrange(1, 300_000)])
        data = rng.randbytes(size + 3)
        piece = memoryview(data)[3:] if rng.random() < 0.5 else data[3:]
        buffers.append(piece)
        total += size
    return buffers


def test_bytes_land_in_order_and_skip_the_page_cache(tmp_path: Path) -> None:
    buffers = odd_buffers(1)
    expected = b"".join(buffers)
    assert len(expected) % BLOCK_BYTES
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old content, longer than nothing " * 1000)
    fd = os.open(path, os.O_WRONLY)
    try:
        written = write_durably(fd, buffers, len(expected))
    finally:
        os.close(fd)
    assert written.direct  # ext4 takes O_DIRECT
    assert written.sha256 == hashlib.sha256(expected).hexdigest()
    assert path.stat().st_size == len(expected)
    assert cached_pages(path) == 0, "a direct write left the clip in the page cache"
    control = tmp_path / "buffered.mp4"
    control.write_bytes(expected)  # mincore sees what a buffered write leaves
    assert cached_pages(control) == -(-len(expected) // mmap.PAGESIZE)
    assert path.read_bytes() == expected


def test_ordinary_writes_where_o_direct_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fcntl = direct_write.fcntl.fcntl

    def refusing(fd: int, command: int, arg: int = 0) -> int:
        # What tmpfs (before Linux 6.6) and some FUSE file systems answer.
        if command == direct_write.fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, command, arg)

    monkeypatch.setattr(direct_write.fcntl, "fcntl", refusing)
    buffers = odd_buffers(2)
    expected = b"".join(buffers)
    path = tmp_path / "clip.mp4"
    path.touch()
    fd = os.open(path, os.O_WRONLY)
    try:
        written = write_durably(fd, buffers, len(expected))
    finally:
        os.close(fd)
    assert not written.direct
    assert written.sha256 == hashlib.sha256(expected).hexdigest()
    assert path.read_bytes() == expected
