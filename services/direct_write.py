"""Writing a file straight to the disk (``O_DIRECT``), durably, from buffers
of any size and alignment.

Why: a clip is written once and then mostly left alone, but a buffered write
first fills the page cache, and on a virtual machine whose host backs RAM
on first touch, filling fresh page cache costs ~4 ms per MB: 113 ms of the
~140 ms it takes to write and fsync a 30 MB clip on this project's 2-core VM,
against 27 ms for the same bytes written with ``O_DIRECT`` and fsynced
(``bench/clip_latency.py``; docs/ARCHITECTURE.md, "Measured"). Direct writes
also leave the cache to what is read.

``O_DIRECT`` wants the memory, the file offset and the length aligned to the
device's logical block size (open(2), "O_DIRECT"): the bytes are copied
through a reused, page-aligned staging buffer (a copy costs ~1 ms per 10 MB
here), the last block is padded and the file cut back to its size with
ftruncate. File systems that refuse ``O_DIRECT`` (EINVAL: tmpfs before Linux
6.6, some FUSE and network file systems) get ordinary buffered writes, with
the same fsync.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import queue
from collections.abc import Iterator, Sequence

#: Alignment for O_DIRECT: 4096 covers 512-byte and 4K-sector devices alike.
BLOCK_BYTES = 4096
#: Bytes per direct write, a multiple of BLOCK_BYTES.
STAGING_BYTES = 4 * 1024 * 1024
#: Buffers per os.writev call in the buffered fallback (Linux IOV_MAX is 1024).
_WRITEV_BUFFERS = 512

#: Staging buffers kept for reuse: their pages are touched once, not per file.
_staging: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()


def write_durably(fd: int, buffers: Sequence[bytes | memoryview], size: int) -> bool:
    """Write ``buffers`` (``size`` bytes in all) into the file ``fd`` from its
    start, cut the file to ``size`` bytes and flush it to disk (fsync).
    Writes with O_DIRECT when the file system takes it; returns whether it
    did. Blocking. Raises OSError (ENOSPC, EIO, ...)."""
    direct = _set_direct(fd, True)
    if direct:
        try:
            _write_direct(fd, buffers)
        except OSError as err:
            if err.errno != errno.EINVAL:  # EINVAL: an alignment this device refuses
                raise
            _set_direct(fd, False)
            direct = False
    if not direct:
        os.lseek(fd, 0, os.SEEK_SET)
        for at in range(0, len(buffers), _WRITEV_BUFFERS):
            _writev_all(fd, buffers[at : at + _WRITEV_BUFFERS])
    os.ftruncate(fd, size)
    os.fsync(fd)
    return direct


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


def _write_direct(fd: int, buffers: Sequence[bytes | memoryview]) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    with _staging_buffer() as staging:
        area = memoryview(staging)
        fill = 0
        for buffer in buffers:
            view = memoryview(buffer).cast("B")
            while view.nbytes:
                take = min(view.nbytes, STAGING_BYTES - fill)
                area[fill : fill + take] = view[:take]
                fill += take
                view = view[take:]
                if fill == STAGING_BYTES:
                    _write_all(fd, area)
                    fill = 0
        if fill:
            padded = -(-fill // BLOCK_BYTES) * BLOCK_BYTES
            area[fill:padded] = bytes(padded - fill)
            _write_all(fd, area[:padded])
        area.release()


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
