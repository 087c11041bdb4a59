"""Retention: clips whose media expired lose it and become DELETED.

A clip that finishes with media (READY, or FAILED keeping what was recorded)
gets ``expire_time`` = that moment + ``retention.clip_max_age_seconds``
(``ClipStore``). Every ``retention.sweep_interval_seconds`` (and once at
start-up, after a downtime) the sweeper takes the clips past it that are not
under legal hold, in this order:

1. the row becomes DELETED with ``delete_time`` and a "deleted" audit entry,
   checked again under the row lock (a hold that arrived meanwhile wins);
2. the video, thumbnail and sidecar files are removed;
3. the row forgets their storage keys (sizes and SHA-256 stay: they say what
   was there).

The row changes first so that it never claims media it no longer has; a
process stopped between 1 and 3 leaves DELETED rows that still name files, and
the next sweep removes those first (``ClipStore.deleted_with_files``). The row
and its audit trail are never removed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from eventclip.clipper.models import ClipRecord
from eventclip.clipper.storage import ClipStorage
from eventclip.clipper.store import ClipStore
from eventclip.timeutil import rfc3339, utcnow

log = logging.getLogger(__name__)

#: Clips taken from the database per query.
BATCH = 100


def media_keys(record: ClipRecord) -> list[str]:
    """The storage keys of the files a clip names (video, thumbnail, sidecar)."""
    return [k for k in (record.video_key, record.thumbnail_key, record.metadata_key) if k]


def _age_text(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} days" if days >= 1 else f"{seconds:g} s"


class RetentionSweeper:
    """Deletes expired media every ``interval_seconds``; ``clock`` is the wall
    clock (tests pass their own)."""

    def __init__(
        self,
        store: ClipStore,
        storage: ClipStorage,
        *,
        interval_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._storage = storage
        self._interval = interval_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def sweep(self) -> list[str]:
        """One pass (blocking: run it in a worker thread); the ids of the clips
        whose media it deleted. Stops early when ``stop`` is called."""
        for record in self._store.deleted_with_files(BATCH):
            self._remove_files(record)
        now = self._clock()
        kept_for = _age_text(self._store.max_age.total_seconds())
        deleted: list[str] = []
        while not self._stop.is_set():
            batch = self._store.expired(now, BATCH)
            if not batch:
                break
            for record in batch:
                if self._stop.is_set():
                    break
                assert record.expire_time is not None
                names = ", ".join(_file_names(record)) or "no files"
                detail = (
                    f"retention: media kept {kept_for}, expired "
                    f"{rfc3339(record.expire_time)}; removed {names}"
                )
                marked = self._store.mark_deleted(record.id, now, detail)
                if marked is None:
                    continue  # held or changed since the query
                self._remove_files(marked)
                deleted.append(record.id)
        if deleted:
            log.info("retention deleted the media of %d clip(s)", len(deleted))
        return deleted

    def _remove_files(self, record: ClipRecord) -> None:
        try:
            for key in media_keys(record):
                self._storage.delete(key)
        except OSError as err:
            # The row names the files still: the next sweep tries again.
            log.warning("retention could not remove the files of clip %s: %s", record.id, err)
            return
        self._store.forget_files(record.id)

    def start(self) -> None:
        """Sweep now and then every interval, in the background."""
        self._task = asyncio.create_task(self._loop(), name="retention-sweeper")

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("retention sweep failed; retrying at the next interval")
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def stop(self) -> None:
        """Stop sweeping; a pass under way ends after the clip it is deleting."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def _file_names(record: ClipRecord) -> list[str]:
    kinds = (
        ("video", record.video_key),
        ("thumbnail", record.thumbnail_key),
        ("metadata", record.metadata_key),
    )
    return [name for name, key in kinds if key]
