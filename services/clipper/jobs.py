"""The clip job: the state machine of one clip, driven by its row in ``clips``.

1. PENDING: wait until ``next_attempt_at`` (first ``start_time``, later the
   backoff).
2. RECORDING: a window wholly in the past when its attempt starts, with
   nothing staged, is cut by the buffer where its packets are
   (``BufferService.CutWindow``): the job writes the MP4's bytes as they
   arrive, hashing them in file order, while the thumbnail is made from the
   keyframe sent with them. Should the buffer not cut it (it does not hold the
   window up to its end yet, or any other error) the attempt reads it as below.
   Otherwise: read the window from the buffer (``WindowReader``), which follows
   live packets until ``end_time``; each reply is muxed as it arrives
   (``LiveRemux``, in a worker thread), so when the post-roll is buffered only
   its last packets, the MP4 trailer, the thumbnail and the hashes remain
   (``finish_clip``). While the window is live, every reply is also appended
   to the clip's window log (``eventclip.clipper.staging``).
3. READY when the media covers the event (``eventclip.clipper.coverage``):
   ``complete`` says whether it covers the whole window, ``gaps`` what it
   lacks, and ``failure_reason`` says why for an incomplete clip. FAILED when
   it does not cover the event: the media recorded is kept, the reason says
   what is missing; or FAILED with no media when nothing could be recorded.

Stops and restarts: a job stopped while recording keeps its window log; the
next attempt (after a retry, a restart or a crash) replays the log and asks the
buffer only for what follows its last packet. What the buffer no longer has
becomes a gap: never a READY clip that claims more than its media holds.

Retries (``eventclip.retry.Backoff``): a failed attempt is retried after 1 s,
2 s, 4 s ... (doubling, capped at ``RETRY_CAP_SECONDS``). While
the window is still to come there is no limit (a camera or buffer that comes
back before the window ends still gives its video; the delay is capped at
``LIVE_RETRY_CAP_SECONDS``); once it has ended, after ``max_attempts`` attempts
the job cuts what it has (an incomplete clip, or FAILED when that misses the
event) rather than dropping recorded video. An attempt interrupted by a stop
(or a crash, see ``eventclip.run_marker``) does not count, nor does one that
storage failed (ENOSPC, EIO): that is retried while the buffer holds the window. FAILED_PRECONDITION (the rest of the window is no longer buffered),
NOT_FOUND and INVALID_ARGUMENT from the buffer are final at once: the clip is
cut from what was received, or FAILED when nothing was.

Each job runs under the W3C trace context captured at CreateClip, so the POS
event -> alert -> CreateClip -> job -> ReadWindow chain is one trace even though
the job runs seconds later (and even after a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
from opentelemetry import propagate, trace

from eventclip.clipper.commit import commit_hashed, finish_clip, storage_keys, thumbnail_of
from eventclip.clipper.coverage import Coverage, measure_coverage
from eventclip.clipper.live import LiveRemux
from eventclip.clipper.models import FAILED, PENDING, READY, RECORDING, TRIM_EXACT, ClipRecord
from eventclip.clipper.sidecar import source_timelines, store_sidecar
from eventclip.clipper.staging import ResumePoint, WindowLog, WindowLogs
from eventclip.clipper.storage import ClipStorage
from eventclip.clipper.store import ClipStore
from eventclip.clipper.window_reader import BufferCut, FinalFailure, WindowCutter, WindowSource
from eventclip.media.mp4 import RemuxError
from eventclip.media.timelines import StreamError, Timeline
from eventclip.retry import Backoff
from eventclip.timeutil import utcnow
from eventclip.v1 import buffer_pb2

T = TypeVar("T")
log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

#: Cuts (remux + thumbnail + hashing) running at once: CPU- and memory-bound.
MAX_CONCURRENT_CUTS = 2
#: Longest wait between attempts while the window is still to come, seconds.
LIVE_RETRY_CAP_SECONDS = 5.0
#: Wait after a storage failure, seconds: longer than a shared read lingers
#: (``SharedWindowReader.linger_seconds``, 5 s), so the retry asks the buffer
#: itself whether it still holds the window.
STORAGE_RETRY_SECONDS = 10.0
STORAGE_NOTE = "(retried while buffered)"
#: Longest wait between attempts once the window has ended, seconds.
RETRY_CAP_SECONDS = 60.0


def first_attempt_at(start_time: datetime) -> datetime:
    """When a new clip's first attempt is due: its start_time. Reading then
    follows the camera live, so the clip is cut the moment its post-roll is
    buffered rather than after a polling delay."""
    return start_time


class ClipJobs:
    """Runs clip jobs: each clip's attempts and their outcome.

    ``logs``: where window logs are kept. ``cutter``: has the buffer cut
    windows that are wholly past (None: every window is read).
    ``backoff_seconds``: delay before the second attempt (doubles each time).
    ``clock``: the wall clock (tests only). ``on_finished``: told of each
    clip that ends READY or FAILED (the notifications).
    """

    def __init__(
        self,
        store: ClipStore,
        storage: ClipStorage,
        reader: WindowSource,
        logs: WindowLogs,
        *,
        max_attempts: int,
        cutter: WindowCutter | None = None,
        backoff_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        on_finished: Callable[[ClipRecord], None] | None = None,
    ) -> None:
        self.store = store
        #: Told of each clip that ends READY or FAILED (must not block).
        self.on_finished = on_finished
        self.logs = logs
        self._storage = storage
        self._reader = reader
        self._cutter = cutter
        self._retry = Backoff(backoff_seconds, RETRY_CAP_SECONDS, max_attempts=max_attempts)
        self._live_retry = Backoff(backoff_seconds, max(backoff_seconds, LIVE_RETRY_CAP_SECONDS))
        self._clock = clock
        self._cuts = asyncio.Semaphore(MAX_CONCURRENT_CUTS)
        #: end_time of the clips in an attempt right now.
        self._recording: dict[str, datetime] = {}
        #: Clips finishing and committing their files (a cancel lets these
        #: finish: a worker thread would otherwise commit files no row names).
        self._cutting: set[str] = set()

    def finishes_within(self, clip_id: str, seconds: float) -> bool:
        """True when ``clip_id`` is in an attempt whose window ends within
        ``seconds`` from now (a stop lets it finish rather than interrupt it)."""
        end = self._recording.get(clip_id)
        return end is not None and end <= self._clock() + timedelta(seconds=seconds)

    def is_cutting(self, clip_id: str) -> bool:
        """True while ``clip_id``'s MP4 is being finished and committed."""
        return clip_id in self._cutting

    async def run(self, clip_id: str) -> None:
        """Run the job of ``clip_id`` until the clip is READY or FAILED. A
        crash (a bug, a dead database) leaves the row as it is: a restart
        resumes it. Cancellation (a stop) leaves it PENDING/RECORDING with its
        window log on disk likewise."""
        record = await asyncio.to_thread(self.store.get, clip_id)
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
                    due = record.next_attempt_at or first_attempt_at(record.start_time)
                    delay = (due - self._clock()).total_seconds()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    record = await self._attempt(record)
                span.set_attribute("eventclip.clip_state", record.state)
                if self.on_finished is not None and record.state in (READY, FAILED):
                    self.on_finished(record)
            except asyncio.CancelledError:
                span.set_attribute("eventclip.clip_state", "INTERRUPTED")
                raise
            except Exception:
                log.exception("clip job %s crashed", clip_id)

    async def _attempt(self, record: ClipRecord) -> ClipRecord:
        attempt = record.attempts + 1
        record = await asyncio.to_thread(
            self.store.update, record.id, state=RECORDING, attempts=attempt
        )
        window_log = self.logs.for_clip(record.id)
        if self._cutter is not None and record.end_time <= self._clock():
            staged = await asyncio.to_thread(window_log.path.exists)
            if not staged and (cut := await self._cut_in_buffer(record, attempt)) is not None:
                return cut
        remux = LiveRemux(
            self._storage.staging_path(storage_keys(record)[0]),
            start_time=record.start_time,
            event_time=record.event_time,
            exact_start=record.trim == TRIM_EXACT,
        )
        # Worker threads use remux and window_log one at a time: a cancelled
        # await does not stop its thread, so the clean-up must wait for it.
        guard = threading.Lock()
        self._recording[record.id] = record.end_time
        try:
            stopped_by = await self._record(record, attempt, remux, window_log, guard)
            if isinstance(stopped_by, ClipRecord):  # retry scheduled or FAILED
                return stopped_by
            self._cutting.add(record.id)
            async with self._cuts:
                return await self._cut(record, remux, window_log, stopped_by, guard)
        except asyncio.CancelledError:
            await asyncio.to_thread(_locked, guard, self._keep_staged, record, remux, window_log)
            raise
        except (RemuxError, StreamError) as err:
            await asyncio.to_thread(window_log.remove)
            return await self._fail(record, f"the buffered window cannot be cut: {err}")
        except Exception as err:  # storage or database trouble: worth another attempt
            return await self._retry_or_fail(record, attempt, err)
        finally:
            self._recording.pop(record.id, None)
            self._cutting.discard(record.id)
            # Drop a partial file of an interrupted attempt (no-op once finished).
            await asyncio.shield(asyncio.to_thread(_locked, guard, _close, remux, window_log))

    async def _record(
        self,
        record: ClipRecord,
        attempt: int,
        remux: LiveRemux,
        window_log: WindowLog,
        guard: threading.Lock,
    ) -> ClipRecord | Exception | None:
        """Feed ``remux`` with what the log holds, then with the rest of the
        window from the buffer. Returns None when the window was read to its
        end, the buffer's error when the rest cannot be had and the clip is to
        be cut from what was received, or the updated record when the attempt
        ends here (a retry scheduled, or FAILED with nothing recorded)."""
        staged = await asyncio.to_thread(window_log.read)
        if staged:
            await asyncio.to_thread(_locked, guard, _feed_all, remux, staged)
            log.info("clip %s continues from %d staged replies", record.id, len(staged))
        # Only a live window needs staging: a past one is re-read whole if need be.
        stage = bool(staged) or record.end_time > self._clock()
        resume = ResumePoint.after(staged)
        read_from = record.start_time
        if resume is not None:
            read_from = datetime.fromtimestamp(resume.wall_time, UTC)
            if read_from >= record.end_time:
                return None  # the log already holds the whole window
        timeline: int | None = None

        def take(reply: buffer_pb2.ReadWindowResponse) -> None:
            if stage:
                window_log.append(reply)
            remux.feed(reply)

        try:
            # Closed at once when the job is cancelled between replies (a stop, a
            # CancelClip): a shared read then loses this reader now, not at GC.
            async with contextlib.aclosing(
                self._reader.read(record.camera_id, read_from, record.end_time)
            ) as replies:
                async for reply in replies:
                    if reply.HasField("codec"):
                        timeline = reply.codec.timeline_id
                    fresh = reply if resume is None else resume.skip(reply, timeline)
                    if fresh is not None:
                        await asyncio.to_thread(_locked, guard, take, fresh)
            return None
        except FinalFailure as err:
            if remux.has_packets:
                return err
            await asyncio.to_thread(window_log.remove)
            return await self._fail(record, str(err))
        except grpc.aio.AioRpcError as err:
            if self._may_retry(record, attempt) or not remux.has_packets:
                return await self._retry_or_fail(record, attempt, err)
            return err
        finally:
            await asyncio.to_thread(_locked, guard, window_log.flush)

    async def _cut_in_buffer(self, record: ClipRecord, attempt: int) -> ClipRecord | None:
        """Have the buffer cut the (past) window and commit its MP4; None when
        the buffer did not, so the attempt reads the window instead."""
        staged = self._storage.staging_path(storage_keys(record)[0])
        self._recording[record.id] = record.end_time
        try:
            # Made empty here, so the buffer may write the MP4 into it when it
            # sees this directory (window_reader.WindowReader.cut).
            await asyncio.to_thread(staged.touch, exist_ok=False)
            cut = await self._cutter.cut(  # type: ignore[union-attr]
                record.camera_id,
                record.start_time,
                record.end_time,
                record.event_time,
                record.trim == TRIM_EXACT,
                staged.resolve(),
            )
            thumbnail = thumbnail_of(cut.thumbnail)
            try:
                sha256 = await _receive(cut, staged)
                self._cutting.add(record.id)
                async with self._cuts:
                    values = await asyncio.to_thread(
                        commit_hashed, record, cut.result, staged, sha256, thumbnail, self._storage
                    )
            finally:
                thumbnail.cancel()
        except grpc.aio.AioRpcError as err:
            log.info(
                "clip %s: the buffer did not cut the window (%s: %s); reading it",
                record.id,
                err.code().name,
                err.details(),
            )
            return None
        except asyncio.CancelledError:
            raise
        except Exception as err:  # storage or database trouble: worth another attempt
            return await self._retry_or_fail(record, attempt, err)
        finally:
            self._recording.pop(record.id, None)
            self._cutting.discard(record.id)
            await asyncio.shield(asyncio.to_thread(staged.unlink, missing_ok=True))
        return await self._conclude(record, values, cut.timelines, None)

    async def _cut(
        self,
        record: ClipRecord,
        remux: LiveRemux,
        window_log: WindowLog,
        cause: Exception | None,
        guard: threading.Lock,
    ) -> ClipRecord:
        """Finish the MP4, measure its coverage and commit it with its sidecar;
        READY when it covers the event, else FAILED with the media kept."""
        # One call: the thumbnail is decoded while the trailer is written.
        values: dict[str, Any] = await asyncio.to_thread(
            _locked, guard, finish_clip, record, remux, self._storage
        )
        await asyncio.to_thread(window_log.remove)
        return await self._conclude(record, values, remux.timelines, cause)

    async def _conclude(
        self,
        record: ClipRecord,
        values: dict[str, Any],
        timelines: list[Timeline],
        cause: Exception | None,
    ) -> ClipRecord:
        """Measure the coverage of the committed MP4 (made from ``timelines``;
        ``values``: its columns), store the sidecar; READY when it covers the
        event, else FAILED with the media kept."""
        coverage = measure_coverage(
            timelines,
            start=record.start_time,
            end=record.end_time,
            event=record.event_time,
            media_start=values["media_start_time"],
        )
        values.update(complete=coverage.complete, gaps=[g.as_row() for g in coverage.gaps])
        # Last: the sidecar names the files above, their hashes and coverage.
        sources = source_timelines(timelines)
        described = record.model_copy(update=values)
        values.update(await asyncio.to_thread(store_sidecar, described, sources, self._storage))
        why = _coverage_reason(coverage, cause)
        if not coverage.event_covered:
            at = record.event_time.strftime("%H:%M:%S.%f")[:-5]
            return await self._fail(
                record, f"the event at {at} UTC is not on video: {why}", **values
            )
        log.info(
            "clip %s READY (%s bytes, sha256 %s)%s",
            record.id,
            values["size_bytes"],
            values["sha256"],
            f"; incomplete: {why}" if why else "",
        )
        return await asyncio.to_thread(
            self.store.update,
            record.id,
            state=READY,
            failure_reason=f"incomplete: {why}" if why else "",
            next_attempt_at=None,
            **values,
        )

    def _may_retry(self, record: ClipRecord, attempt: int) -> bool:
        return not self._retry.exhausted(attempt) or self._clock() < record.end_time

    def _keep_staged(self, record: ClipRecord, remux: LiveRemux, window_log: WindowLog) -> None:
        """On a stop: make the window log durable, give the attempt back (it
        did not fail) and say what was kept."""
        window_log.flush(durable=True)
        self.store.update(record.id, attempts=record.attempts - 1)
        if window_log.path.exists():
            log.warning(
                "clip %s stopped while recording: %d packets staged in %s; the job "
                "continues from there at the next start",
                record.id,
                remux.packet_count,
                window_log.path,
            )
        else:
            log.warning("clip %s stopped before any video was staged", record.id)

    async def _retry_or_fail(self, record: ClipRecord, attempt: int, err: Exception) -> ClipRecord:
        reason = f"{type(err).__name__}: {err}"
        if isinstance(err, grpc.aio.AioRpcError):
            reason = f"buffer ReadWindow: {err.code().name}: {err.details()}"
        else:
            log.exception("clip %s attempt %d failed", record.id, attempt)
        if isinstance(err, OSError):
            return await self._retry_storage(record, attempt, reason)
        if not self._may_retry(record, attempt):
            await asyncio.to_thread(self.logs.for_clip(record.id).remove)
            return await self._fail(record, f"gave up after {attempt} attempts: {reason}")
        policy = self._live_retry if self._clock() < record.end_time else self._retry
        delay = policy.delay(attempt)
        log.info(
            "clip %s attempt %d failed (%s); retry in %.0f s", record.id, attempt, reason, delay
        )
        return await asyncio.to_thread(
            self.store.update,
            record.id,
            state=PENDING,
            failure_reason=_with_storage_history(f"attempt {attempt} failed: {reason}", record),
            next_attempt_at=self._clock() + timedelta(seconds=delay),
        )

    async def _retry_storage(self, record: ClipRecord, attempt: int, reason: str) -> ClipRecord:
        """Storage failed (a full disk, an I/O error), not the window: retry for
        as long as the buffer holds the window (a later attempt then ends for
        good when it no longer does), with the attempt given back, so a disk
        freed in time still gets the clip."""
        delay = max(STORAGE_RETRY_SECONDS, self._retry.delay(1))
        log.warning(
            "clip %s: storage failed (%s); retry in %.0f s while the window is buffered",
            record.id,
            reason,
            delay,
        )
        return await asyncio.to_thread(
            self.store.update,
            record.id,
            state=PENDING,
            attempts=attempt - 1,
            failure_reason=f"attempt {attempt} failed: {reason} {STORAGE_NOTE}",
            next_attempt_at=self._clock() + timedelta(seconds=delay),
        )

    async def _fail(self, record: ClipRecord, reason: str, **values: Any) -> ClipRecord:
        reason = _with_storage_history(reason, record)
        log.warning("clip %s FAILED: %s", record.id, reason)
        trace.get_current_span().set_status(trace.Status(trace.StatusCode.ERROR, reason))
        return await asyncio.to_thread(
            self.store.update,
            record.id,
            state=FAILED,
            failure_reason=reason,
            next_attempt_at=None,
            **values,
        )


def _locked(guard: threading.Lock, func: Callable[..., T], *args: Any) -> T:
    with guard:
        return func(*args)


def _close(remux: LiveRemux, window_log: WindowLog) -> None:
    remux.abort()
    window_log.close()


def _feed_all(remux: LiveRemux, replies: list[buffer_pb2.ReadWindowResponse]) -> None:
    for reply in replies:
        remux.feed(reply)


async def _receive(cut: BufferCut, path: Path) -> str:
    """The cut's MP4 at ``path`` and its SHA-256 (lowercase hex): written by the
    buffer itself (``BufferCut.written``), or written here from its chunks as
    they arrive and hashed in file order, each chunk by one worker thread while
    another hashes it (both release the GIL) and the next one arrives. Raises
    grpc.aio.AioRpcError, OSError, and RemuxError when the file does not hold
    the announced number of bytes."""
    digest = hashlib.sha256()
    loop = asyncio.get_running_loop()
    written = 0
    with contextlib.ExitStack() as stack:
        f = None  # opened at the first chunk: the buffer may be writing the file
        work: list[asyncio.Future[Any]] = []
        async for chunk in cut.chunks:
            if f is None:
                f = stack.enter_context(open(path, "wb", buffering=0))  # noqa: ASYNC230
                writer = stack.enter_context(ThreadPoolExecutor(1, "cut-write"))
                hasher = stack.enter_context(ThreadPoolExecutor(1, "cut-hash"))
            work += (
                loop.run_in_executor(writer, f.write, chunk),
                loop.run_in_executor(hasher, digest.update, chunk),
            )
            written += len(chunk)
        await asyncio.gather(*work)
    if cut.written is not None:
        written = (await asyncio.to_thread(path.stat)).st_size
        if written != cut.written.size_bytes or written != cut.result.size_bytes:
            raise RemuxError(f"the buffer wrote {written} of {cut.result.size_bytes} MP4 bytes")
        return cut.written.sha256
    if written != cut.result.size_bytes:
        raise RemuxError(f"the buffer sent {written} of {cut.result.size_bytes} MP4 bytes")
    return digest.hexdigest()


def _with_storage_history(reason: str, record: ClipRecord) -> str:
    """``reason``, and the storage failure an earlier attempt of ``record`` met,
    if one did: what happened first is kept until the clip ends."""
    earlier = record.failure_reason
    if STORAGE_NOTE not in earlier or STORAGE_NOTE in reason:
        return reason
    return f"{reason}; before that, {earlier.split('; before that, ')[-1]}"


def _coverage_reason(coverage: Coverage, cause: Exception | None) -> str:
    """What is missing and why, for failure_reason; empty for a whole clip."""
    if not coverage.gaps:
        return ""
    why = coverage.describe()
    if isinstance(cause, FinalFailure):
        why += f"; the buffer no longer holds the rest ({cause})"
    elif isinstance(cause, grpc.aio.AioRpcError):
        why += f"; the buffer stopped delivering ({cause.code().name}: {cause.details()})"
    return why
