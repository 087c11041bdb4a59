"""Writing a file straight to the disk (``O_DIRECT``), durably, from buffers
of any size and alignment, and hashing it on the way.

Why direct: a clip is written once and then mostly left alone, but a
buffered write first fills the page cache, and on a virtual machine whose
host backs RAM on first touch, filling fresh page cache costs ~4 ms per MB:
113 ms of the ~130 ms it took to write and fsync a 30 MB clip on this
project's 2-core VM, against ~27 ms for the same bytes written with
``O_DIRECT`` and fsynced (docs/ARCHITECTURE.md, "Measured"). Direct writes
also leave the cache to what is read.

``O_DIRECT`` wants the memory, the file offset and the length aligned to the
device's logical block size (open(2), "O_DIRECT"), so the bytes go through
page-aligned staging buffers of STAGING_BYTES, reused across files; the last
block is padded and the file cut back to its size. While one staging buffer
is written by a second thread, the next is filled and hashed: a few large
hash and write calls, each without the GIL, rather than one per packet,
which the services' event loops would hold up. File systems that refuse
``O_DIRECT`` (EINVAL: tmpfs before Linux 6.6, some FUSE and network file
systems) get ordinary buffered writes, with the same fsync.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import queue
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

#: Alignment for O_DIRECT: 4096 covers 512-byte and 4K-sector devices alike.
BLOCK_BYTES = 4096
#: Bytes per direct write, a multiple of BLOCK_BYTES.
STAGING_BYTES = 4 * 1024 * 1024
#: Buffers per os.writev call in the buffered fallback (Linux IOV_MAX is 1024).
_WRITEV_BUFFERS = 512

#: Staging buffers kept for reuse: their pages are touched once, not per file.
_staging: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()


@dataclass(frozen=True)
class Written:
    """What ``write_durably`` wrote: the SHA-256 of the bytes (lowercase hex)
    and whether they went straight to the disk (O_DIRECT)."""

    sha256: str
    direct: bool


def write_durably(fd: int, buffers: Sequence[bytes | memoryview], size: int) -> Written:
    """Write ``buffers`` (``size`` bytes in all) into the file ``fd`` from its
    start, cut the file to ``size`` bytes, flush it to disk (fsync) and hash
    what was written. With O_DIRECT when the file system takes it. Blocking:
    run it in a worker thread. Raises OSError (ENOSPC, EIO, ...)."""
    if _set_direct(fd, True):
        try:
            sha256 = _write_direct(fd, buffers)
        except OSError as err:
            if err.errno != errno.EINVAL:  # EINVAL: an alignment this device refuses
                raise
            _set_direct(fd, False)
        else:
            _finish(fd, size)
            return Written(sha256, direct=True)
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    for at in range(0, len(buffers), _WRITEV_BUFFERS):
        group = buffers[at : at + _WRITEV_BUFFERS]
        _writev_all(fd, group)
        for buffer in group:
            digest.update(buffer)
    _finish(fd, size)
    return Written(digest.hexdigest(), direct=False)


def _finish(fd: int, size: int) -> None:
    os.ftruncate(fd, size)  # drops the padding of the last block, or older content
    os.fsync(fd)


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; False when the file system refuses
    it (EINVAL)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError as err:
        if err.errno == errno.EINVAL:
            return False
        raise
    return on


def _write_direct(fd: int, buffers: Sequence[bytes | memoryview]) -> str:
    """Copy into two staging buffers in turn, hash each, and write it in the
    writer thread while the other fills; the SHA-256 of the bytes (unpadded)."""
    os.lseek(fd, 0, os.SEEK_SET)
    digest = hashlib.sha256()
    with (
        _staging_buffer() as first,
        _staging_buffer() as second,
        ThreadPoolExecutor(1, "direct-write") as writer,
    ):
        areas = [memoryview(first), memoryview(second)]
        writing: Future[None] | None = None
        for area, filled in _fill(buffers, areas):
            digest.update(area[:filled])
            padded = -(-filled // BLOCK_BYTES) * BLOCK_BYTES
            area[filled:padded] = bytes(padded - filled)
            if writing is not None:
                writing.result()  # the other buffer is free again
            writing = writer.submit(_write_all, fd, area[:padded])
        if writing is not None:
            writing.result()
    return digest.hexdigest()


def _fill(
    buffers: Sequence[bytes | memoryview], areas: list[memoryview]
) -> Iterator[tuple[memoryview, int]]:
    """Copy ``buffers`` into ``areas`` taken in turn; yields each area and how
    many bytes it holds once it is full (the last one when the bytes end).
    The caller is done with an area before it is filled again."""
    turn = 0
    area, fill = areas[0], 0
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        while view.nbytes:
            take = min(view.nbytes, STAGING_BYTES - fill)
            area[fill : fill + take] = view[:take]
            fill += take
            view = view[take:]
            if fill == STAGING_BYTES:
                yield area, fill
                turn ^= 1
                area, fill = areas[turn], 0
    if fill:
        yield area, fill


@contextlib.contextmanager
def _staging_buffer() -> Iterator[mmap.mmap]:
    try:
        staging = _staging.get_nowait()
    except queue.Empty:
        staging = mmap.mmap(-1, STAGING_BYTES)  # page-aligned
    try:
        yield staging
    finally:
        _staging.put(staging)


def _write_all(fd: int, view: memoryview) -> None:
    """os.write until every byte is written. A direct write that stops short
    stops on a block boundary (or fails on the next call), so the rest stays
    aligned."""
    while view.nbytes:
        written = os.write(fd, view)
        view = view[written:]


def _writev_all(fd: int, buffers: Sequence[bytes | memoryview]) -> None:
    """os.writev until every byte is written (it may write fewer)."""
    views = [memoryview(b) for b in buffers]
    while views:
        written = os.writev(fd, views)
        while views and written >= views[0].nbytes:
            written -= views[0].nbytes
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]
