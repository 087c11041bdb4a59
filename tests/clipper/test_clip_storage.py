"""Local clip storage: atomic commit with size and SHA-256, byte ranges."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from eventclip.clipper.storage import LocalStorage
from eventclip.files import atomic_output


def test_commit_records_size_and_sha256_and_serves_ranges(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "clips")
    payload = bytes(range(256)) * 10_000  # 2.56 MB: more than two 1 MiB chunks
    staged = storage.staging_path("cam1/20250301/abc.mp4")
    staged.write_bytes(payload)

    stored = storage.commit("cam1/20250301/abc.mp4", staged)

    assert stored.size_bytes == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    assert not staged.exists()
    assert storage.size("cam1/20250301/abc.mp4") == len(payload)
    chunks = list(storage.open_range("cam1/20250301/abc.mp4", 0, 0))
    assert [len(c) for c in chunks] == [1 << 20, 1 << 20, len(payload) - 2 * (1 << 20)]
    assert b"".join(chunks) == payload
    assert b"".join(storage.open_range("cam1/20250301/abc.mp4", 1000, 5000)) == payload[1000:6000]
    assert (
        b"".join(storage.open_range("cam1/20250301/abc.mp4", len(payload) - 3, 100))
        == (payload[-3:])
    )


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for key in ("../etc/passwd", "/abs.mp4", "", ".staging/x"):
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.path(key)


def test_atomic_output_removes_the_temporary_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target, fsync=True) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert list(tmp_path.iterdir()) == [target]


def test_clear_staging_drops_leftovers(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.staging_path("a.mp4").write_bytes(b"interrupted")
    storage.clear_staging()
    assert not (tmp_path / ".staging").exists()
