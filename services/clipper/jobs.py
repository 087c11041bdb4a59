"""Clip jobs: wait for the post-roll, pull the window, cut, store, record.

A job per clip, driven by the row in ``clips`` (the database is the source of
truth; the in-process queue only holds asyncio tasks):

1. PENDING: sleep until ``next_attempt_at`` (first ``start_time``, later the
   backoff).
2. RECORDING: ``BufferService.ReadWindow`` over gRPC with a deadline. It follows
   live packets until ``end_time``, and each reply is muxed into the MP4 as it
   arrives (``LiveRemux``, in a worker thread), so when the post-roll is buffered
   only its last packets, the MP4 trailer, the thumbnail and the SHA-256 of both
   files remain before they are committed to storage.
3. READY with the media fields, or FAILED with the reason.

Retries: a failed attempt is retried after 1 s, 2 s, 4 s ... (doubling) up to
``settings.clips.max_attempts`` attempts, then FAILED with the last error.
FAILED_PRECONDITION (the window is no longer buffered), NOT_FOUND and
INVALID_ARGUMENT from the buffer, and a window that holds nothing decodable,
are final at once: retrying cannot bring the video back.

Each job runs under the W3C trace context captured at CreateClip, so the POS
event -> alert -> CreateClip -> job -> ReadWindow chain is one trace even though
the job runs seconds later (and even after a restart).

Not done yet (future work): merging overlapping windows of one camera into one
cut; a shared queue (Redis) so several clipper replicas split the jobs. With one
replica, a restart resumes every PENDING/RECORDING row (``resume``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from opentelemetry import propagate, trace

from eventclip.clipper.models import FAILED, PENDING, READY, RECORDING, ClipRecord
from eventclip.clipper.remux import LiveRemux, RemuxError, RemuxResult, Segment
from eventclip.clipper.storage import ClipStorage
from eventclip.clipper.store import ClipStore
from eventclip.clipper.thumbnail import ThumbnailError, make_thumbnail
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

#: Buffer answers that no retry can change.
FINAL_CODES = frozenset(
    {
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)
#: ReadWindow deadline beyond the post-roll still to come, seconds.
READ_WINDOW_MARGIN_SECONDS = 30.0
#: Cuts (remux + thumbnail + hashing) running at once: CPU- and memory-bound.
MAX_CONCURRENT_CUTS = 2


class FinalFailure(Exception):
    """The clip cannot be made; retrying will not help."""


def storage_keys(record: ClipRecord) -> tuple[str, str]:
    """(video key, thumbnail key): ``<camera>/<YYYYMMDD of creation>/<id>.mp4|.jpg``."""
    prefix = f"{record.camera_id}/{record.create_time:%Y%m%d}/{record.id}"
    return f"{prefix}.mp4", f"{prefix}.jpg"


def finish_clip(record: ClipRecord, remux: LiveRemux, storage: ClipStorage) -> dict[str, Any]:
    """Complete a window remuxed while it arrived, make the thumbnail and commit
    both. Blocking: run it in a worker thread. Raises RemuxError."""
    return store_clip(record, remux.finish(), remux.path, remux.segments, storage)


def store_clip(
    record: ClipRecord,
    result: RemuxResult,
    staged: Path,
    segments: list[Segment],
    storage: ClipStorage,
) -> dict[str, Any]:
    """Commit the MP4 at ``staged``, make and commit the thumbnail from
    ``segments``; returns the clip's new column values. A thumbnail that cannot
    be made is logged and left out: the video is the evidence."""
    video_key, thumbnail_key = storage_keys(record)
    video = storage.commit(video_key, staged)
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
        thumbnail = make_thumbnail(segments, record.event_time)
    except ThumbnailError as err:
        log.warning("clip %s has no thumbnail: %s", record.id, err)
        return values
    staged = storage.staging_path(thumbnail_key)
    staged.write_bytes(thumbnail.jpeg)
    stored = storage.commit(thumbnail_key, staged)
    values.update(
        thumbnail_key=stored.key,
        thumbnail_size_bytes=stored.size_bytes,
        thumbnail_sha256=stored.sha256,
    )
    return values


class ClipJobRunner:
    """Runs clip jobs as asyncio tasks in this process (the ``memory://`` queue).

    ``backoff_seconds``: delay before the second attempt (doubles each time).
    ``clock``: the wall clock (tests only).
    """

    def __init__(
        self,
        store: ClipStore,
        storage: ClipStorage,
        buffer_channel: grpc.aio.Channel,
        *,
        max_attempts: int,
        backoff_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._storage = storage
        self._buffer = buffer_pb2_grpc.BufferServiceStub(buffer_channel)
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._clock = clock
        self._cuts = asyncio.Semaphore(MAX_CONCURRENT_CUTS)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Clips in an attempt right now (stop() lets these finish within grace).
        self._busy: set[str] = set()
        self._closing = False

    @staticmethod
    def first_attempt_at(start_time: datetime) -> datetime:
        """When a new clip's first attempt is due: its start_time. Reading then
        follows the camera live, so the clip is cut the moment its post-roll is
        buffered rather than after a polling delay."""
        return start_time

    async def resume(self) -> int:
        """Schedule every PENDING/RECORDING clip in the database (after a restart);
        returns how many."""
        unfinished = await asyncio.to_thread(self._store.unfinished)
        for record in unfinished:
            self.submit(record.id)
        if unfinished:
            log.info("resumed %d unfinished clip job(s)", len(unfinished))
        return len(unfinished)

    def submit(self, clip_id: str) -> None:
        """Schedule the job of ``clip_id`` (no-op when it is already scheduled or
        the runner is stopping)."""
        if self._closing or clip_id in self._tasks:
            return
        task = asyncio.create_task(self._run(clip_id), name=f"clip-job-{clip_id}")
        self._tasks[clip_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(clip_id, None))

    async def wait_idle(self) -> None:
        """Return when no job is scheduled (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def stop(self, grace: float) -> None:
        """Stop taking jobs; cancel jobs that are only waiting, give running
        attempts up to ``grace`` seconds, then cancel them. Cancelled clips stay
        PENDING/RECORDING in the database and resume on the next start."""
        self._closing = True
        running = []
        for clip_id, task in list(self._tasks.items()):
            if clip_id in self._busy:
                running.append(task)
            else:
                task.cancel()
        if running:
            _done, late = await asyncio.wait(running, timeout=max(grace, 0))
            for task in late:
                task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def _run(self, clip_id: str) -> None:
        record = await asyncio.to_thread(self._store.get, clip_id)
        if record is None:
            log.warning("clip job %s: no such clip", clip_id)
            return
        parent = propagate.extract(record.trace_context or {})
        with tracer.start_as_current_span(
            "clipper.job",
            context=parent,
            attributes={"eventclip.clip_id": clip_id, "eventclip.camera_id": record.camera_id},
        ) as span:
            try:
                while record.state in (PENDING, RECORDING):
                    due = record.next_attempt_at or self.first_attempt_at(record.start_time)
                    delay = (due - self._clock()).total_seconds()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self._busy.add(clip_id)
                    try:
                        record = await self._attempt(record)
                    finally:
                        self._busy.discard(clip_id)
                span.set_attribute("eventclip.clip_state", record.state)
            except asyncio.CancelledError:
                span.set_attribute("eventclip.clip_state", "INTERRUPTED")
                raise
            except Exception:
                # A bug or a dead database: leave the row as it is, a restart resumes it.
                log.exception("clip job %s crashed", clip_id)

    async def _attempt(self, record: ClipRecord) -> ClipRecord:
        attempt = record.attempts + 1
        record = await asyncio.to_thread(
            self._store.update, record.id, state=RECORDING, attempts=attempt
        )
        remux = LiveRemux(
            self._storage.staging_path(storage_keys(record)[0]),
            start_time=record.start_time,
            event_time=record.event_time,
        )
        try:
            await self._read_window(record, remux)
            async with self._cuts:
                values = await asyncio.to_thread(finish_clip, record, remux, self._storage)
        except FinalFailure as err:
            return await self._fail(record, str(err))
        except RemuxError as err:
            return await self._fail(record, f"the buffered window cannot be cut: {err}")
        except asyncio.CancelledError:
            raise
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"
            if not isinstance(err, grpc.aio.AioRpcError):
                log.exception("clip %s attempt %d failed", record.id, attempt)
            if attempt >= self._max_attempts:
                return await self._fail(record, f"gave up after {attempt} attempts: {reason}")
            delay = self._backoff * 2 ** (attempt - 1)
            log.info(
                "clip %s attempt %d failed (%s); retry in %.0f s", record.id, attempt, reason, delay
            )
            return await asyncio.to_thread(
                self._store.update,
                record.id,
                state=PENDING,
                failure_reason=f"attempt {attempt} failed: {reason}",
                next_attempt_at=self._clock() + timedelta(seconds=delay),
            )
        finally:
            remux.abort()  # a partial file of a failed attempt (no-op once finished)
        log.info(
            "clip %s READY (%s bytes, sha256 %s)", record.id, values["size_bytes"], values["sha256"]
        )
        return await asyncio.to_thread(
            self._store.update,
            record.id,
            state=READY,
            failure_reason="",
            next_attempt_at=None,
            **values,
        )

    async def _fail(self, record: ClipRecord, reason: str) -> ClipRecord:
        log.warning("clip %s FAILED: %s", record.id, reason)
        trace.get_current_span().set_status(trace.Status(trace.StatusCode.ERROR, reason))
        return await asyncio.to_thread(
            self._store.update, record.id, state=FAILED, failure_reason=reason, next_attempt_at=None
        )

    async def _read_window(self, record: ClipRecord, remux: LiveRemux) -> None:
        """Feed the window from BufferService.ReadWindow into ``remux`` as it
        arrives (each reply is muxed in a worker thread while the camera is
        followed). Raises FinalFailure for answers no retry can change,
        AioRpcError otherwise, RemuxError for a window that cannot be muxed."""
        request = buffer_pb2.ReadWindowRequest(
            camera_id=record.camera_id,
            start_time=to_timestamp(record.start_time),
            end_time=to_timestamp(record.end_time),
        )
        still_to_come = max(0.0, (record.end_time - self._clock()).total_seconds())
        try:
            call = self._buffer.ReadWindow(
                request, timeout=still_to_come + READ_WINDOW_MARGIN_SECONDS
            )
            async for response in call:
                await asyncio.to_thread(remux.feed, response)
        except grpc.aio.AioRpcError as err:
            if err.code() in FINAL_CODES:
                raise FinalFailure(
                    f"buffer ReadWindow: {err.code().name}: {err.details()}"
                ) from err
            raise
