"""Where clip files live: a local directory now, an object store later.

``ClipStorage`` is the small interface the clip job and ``ReadClipMedia`` use.
Files are produced locally (FFmpeg's MP4 muxer needs a seekable file for
``+faststart``) at ``staging_path(key)`` and then handed over with
``commit(key, path)``, which records their size and SHA-256 (chain of custody)
and publishes them atomically under ``key``. An object store implementation
would upload in ``commit`` and serve ranges with HTTP ``Range`` requests.

The SHA-256 is taken from the staged file as it will be published, never from
the bytes a writer was handed: FFmpeg's ``+faststart`` writes the media data,
then moves it to make room and writes the ``moov`` box last, at the front, so
the bytes in write order are not the file. The exception is a file written
once, front to back (an MP4 the buffer cut, received in file order): its
hash is taken as it is written and given to ``commit``. ``LocalStorage.commit`` hashes the
file while the kernel writes the same pages back to disk (``fsync`` in another
thread; both release the GIL), so durability costs no extra wall time: for a
30 MB clip here both take ~16 ms.

Keys are relative POSIX paths such as ``cam1/20250101/<clip id>.mp4``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from eventclip.config import CLIPS_STAGING_DIRNAME
from eventclip.files import fsync_directory

#: Largest chunk ``open_range`` yields (ReadClipMedia's message limit).
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A committed file: its key, size in bytes and SHA-256 (lowercase hex)."""

    key: str
    size_bytes: int
    sha256: str


class ClipStorage(Protocol):
    def staging_path(self, key: str) -> Path:
        """A fresh local path to write the file that will become ``key``."""
        ...

    def commit(self, key: str, local_path: Path, *, sha256: str | None = None) -> StoredFile:
        """Publish ``local_path`` as ``key`` atomically (a reader sees the old
        object or the whole new one); returns its size and SHA-256.
        ``sha256``: the file's SHA-256 (lowercase hex), taken while it was
        written in file order; it is then not read again."""
        ...

    def size(self, key: str) -> int:
        """Size of ``key`` in bytes. FileNotFoundError when it does not exist."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed (a missing key is not an error:
        deleting is retried after a crash)."""
        ...

    def open_range(
        self, key: str, offset: int, length: int, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[bytes]:
        """Bytes ``offset`` .. ``offset + length`` of ``key`` (length 0 = to the
        end), in chunks of at most ``chunk_bytes``."""
        ...


#: Threads that fsync files while they are hashed (one per concurrent commit).
_flusher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="storage-fsync")


def file_digest(path: Path, *, fsync: bool = False) -> tuple[int, str]:
    """(size in bytes, SHA-256 lowercase hex) of a file, read in large blocks.
    ``fsync``: also flush it to disk, in another thread while it is hashed."""
    with open(path, "rb") as f:
        flushed = _flusher.submit(os.fsync, f.fileno()) if fsync else None
        try:
            digest = hashlib.file_digest(f, "sha256")
        finally:
            if flushed is not None:
                flushed.result()  # raises the fsync's OSError, if any
        return f.tell(), digest.hexdigest()


def _safe_relative(key: str) -> PurePosixPath:
    rel = PurePosixPath(key)
    if not key or rel.is_absolute() or ".." in rel.parts or key.startswith("."):
        raise ValueError(f"invalid storage key {key!r}: must be a relative path without '..'")
    return rel


class LocalStorage:
    """Clips under one directory (``settings.clips_dir``). Files are staged in
    ``<root>/.staging`` (same file system, so commit is a rename) and published
    at ``<root>/<key>``; ``durable`` fsyncs each file and its directory first."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self._staging = self.root / CLIPS_STAGING_DIRNAME

    def clear_staging(self) -> None:
        """Delete half-written files left by an interrupted process (at start-up)."""
        shutil.rmtree(self._staging, ignore_errors=True)

    def path(self, key: str) -> Path:
        return self.root / _safe_relative(key)

    def staging_path(self, key: str) -> Path:
        name = _safe_relative(key).name
        self._staging.mkdir(parents=True, exist_ok=True)
        return self._staging / f"{uuid.uuid4().hex}-{name}"

    def commit(self, key: str, local_path: Path, *, sha256: str | None = None) -> StoredFile:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if sha256 is None:
            size, sha256 = file_digest(local_path, fsync=self.durable)
        else:
            size = local_path.stat().st_size
            if self.durable:
                with open(local_path, "rb") as f:
                    os.fsync(f.fileno())
        os.replace(local_path, target)
        if self.durable:
            fsync_directory(target.parent)  # the rename itself survives a crash
        return StoredFile(key=key, size_bytes=size, sha256=sha256)

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def delete(self, key: str) -> bool:
        target = self.path(key)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        if self.durable:
            fsync_directory(target.parent)  # the removal itself survives a crash
        return True

    def open_range(
        self, key: str, offset: int, length: int, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[bytes]:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        with open(self.path(key), "rb") as f:
            f.seek(offset)
            remaining = length or None
            while remaining is None or remaining > 0:
                want = chunk_bytes if remaining is None else min(chunk_bytes, remaining)
                data = f.read(want)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
