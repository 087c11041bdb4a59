"""Committing a cut clip: the MP4, its thumbnail and their hashes into storage.

Blocking (file I/O, hashing, one keyframe decoded): the job runs it in a
worker thread. The thumbnail is made in another thread while the MP4's trailer
is written and the file hashed and flushed to disk (FFmpeg, hashlib and fsync
release the GIL), so it adds nothing to the time a clip takes to become READY.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eventclip.clipper.live import LiveRemux
from eventclip.clipper.models import ClipRecord
from eventclip.clipper.storage import ClipStorage
from eventclip.clipper.thumbnail import (
    Thumbnail,
    ThumbnailError,
    keyframe_thumbnail,
    make_thumbnail,
)
from eventclip.media.mp4 import RemuxResult
from eventclip.media.timelines import Timeline
from eventclip.v1 import buffer_pb2

log = logging.getLogger(__name__)


def storage_keys(record: ClipRecord) -> tuple[str, str]:
    """(video key, thumbnail key): ``<camera>/<YYYYMMDD of creation>/<id>.mp4|.jpg``."""
    prefix = f"{record.camera_id}/{record.create_time:%Y%m%d}/{record.id}"
    return f"{prefix}.mp4", f"{prefix}.jpg"


def finish_clip(record: ClipRecord, remux: LiveRemux, storage: ClipStorage) -> dict[str, Any]:
    """Complete a window remuxed while it arrived, make the thumbnail and commit
    both; returns the clip's new column values. The thumbnail is made while the
    MP4's trailer is written and the file hashed. Raises RemuxError."""
    with _beside(remux.timelines, record) as thumbnail:
        result = remux.finish()
        return _commit(record, result, remux.path, thumbnail, storage)


def commit_hashed(
    record: ClipRecord,
    result: RemuxResult,
    staged: Path,
    sha256: str,
    thumbnail: Future[Thumbnail],
    storage: ClipStorage,
) -> dict[str, Any]:
    """Commit the MP4 at ``staged``, whose SHA-256 was taken as it was written,
    and the ``thumbnail`` being made (``thumbnail_of``); returns the clip's new
    column values as ``finish_clip`` does."""
    try:
        return _commit(record, result, staged, thumbnail, storage, sha256=sha256)
    finally:
        thumbnail.cancel()


def thumbnail_of(
    keyframe: tuple[buffer_pb2.CodecParameters, buffer_pb2.Packet] | None,
) -> Future[Thumbnail]:
    """The thumbnail of one keyframe (its timeline's codec parameters and the
    packet), made in another thread; the future raises ThumbnailError when
    there is no keyframe or it does not decode."""
    if keyframe is None:
        failed: Future[Thumbnail] = Future()
        failed.set_exception(ThumbnailError("the window holds no keyframe"))
        return failed
    return _thumbnailer.submit(keyframe_thumbnail, *keyframe)


#: Threads that make thumbnails beside the commits (one per concurrent cut).
_thumbnailer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="thumbnail")


@contextlib.contextmanager
def _beside(timelines: list[Timeline], record: ClipRecord) -> Iterator[Future[Thumbnail]]:
    """The thumbnail of ``record``, made in another thread while the block runs.
    A block that fails does not wait for it: no clip without its video."""
    thumbnail = _thumbnailer.submit(make_thumbnail, timelines, record.event_time)
    try:
        yield thumbnail
    finally:
        thumbnail.cancel()  # a no-op once it has run


def _commit(
    record: ClipRecord,
    result: RemuxResult,
    staged: Path,
    thumbnail: Future[Thumbnail],
    storage: ClipStorage,
    *,
    sha256: str | None = None,
) -> dict[str, Any]:
    video_key, thumbnail_key = storage_keys(record)
    video = storage.commit(video_key, staged, sha256=sha256)
    if result.note:
        log.warning("clip %s: %s", record.id, result.note)
    values: dict[str, Any] = {
        "media_start_time": result.media_start_time,
        "media_end_time": result.media_end_time,
        "duration_seconds": result.duration_seconds,
        "size_bytes": video.size_bytes,
        "sha256": video.sha256,
        "codec_name": result.codec_name,
        "width": result.width,
        "height": result.height,
        "video_key": video.key,
    }
    try:
        jpeg = thumbnail.result().jpeg
    except ThumbnailError as err:
        log.warning("clip %s has no thumbnail: %s", record.id, err)
        return values
    staged = storage.staging_path(thumbnail_key)
    try:
        staged.write_bytes(jpeg)
        stored = storage.commit(thumbnail_key, staged)
    except BaseException:
        # No row will name the video (a full disk, say): leave no file behind.
        staged.unlink(missing_ok=True)
        storage.delete(video.key)
        raise
    values.update(
        thumbnail_key=stored.key,
        thumbnail_size_bytes=stored.size_bytes,
        thumbnail_sha256=stored.sha256,
    )
    return values
