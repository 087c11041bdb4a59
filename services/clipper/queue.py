"""The clip job queue of the embedded mode (``queue_url: memory://``): each
job is an asyncio task in this process.

The database is the queue's source of truth (a job is its row in ``clips``),
so nothing is lost when the process stops: ``resume`` schedules every
unfinished row again at start-up.
"""

from __future__ import annotations

import asyncio
import logging

from eventclip.clipper.jobs import ClipJobs

log = logging.getLogger(__name__)


class MemoryJobQueue:
    """Schedules the jobs of ``jobs`` as tasks on the running loop."""

    def __init__(self, jobs: ClipJobs) -> None:
        self.jobs = jobs
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    async def resume(self) -> int:
        """Schedule every PENDING/RECORDING clip in the database (after a restart);
        returns how many."""
        unfinished = await asyncio.to_thread(self.jobs.store.unfinished)
        for record in unfinished:
            self.submit(record.id)
        if unfinished:
            log.info("resumed %d unfinished clip job(s)", len(unfinished))
        return len(unfinished)

    def submit(self, clip_id: str) -> None:
        """Schedule the job of ``clip_id`` (no-op when it is already scheduled or
        the queue is stopping)."""
        if self._closing or clip_id in self._tasks:
            return
        task = asyncio.create_task(self.jobs.run(clip_id), name=f"clip-job-{clip_id}")
        self._tasks[clip_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(clip_id, None))

    async def cancel(self, clip_id: str) -> None:
        """Stop the job of ``clip_id`` and return once it has stopped (no-op when
        none runs). A job already finishing its cut is let finish, so the clip
        then ends READY/FAILED rather than with files no row names."""
        task = self._tasks.get(clip_id)
        if task is None:
            return
        while not task.done():
            if not self.jobs.is_cutting(clip_id):
                task.cancel()
            # Cutting may end in a retry (PENDING again): then cancel that.
            await asyncio.wait({task}, timeout=0.05)

    async def wait_idle(self) -> None:
        """Return when no job is scheduled (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def stop(self, grace: float) -> None:
        """Stop taking jobs. Jobs whose window ends within ``grace`` seconds get
        until then to finish; every other job is cancelled at once: a job that
        was recording keeps its window log on disk (made durable) and its clip
        stays RECORDING, so the next start continues it; a job waiting for its
        window or a retry just stays PENDING. Jobs still running after
        ``grace`` are cancelled the same way."""
        self._closing = True
        finishing, interrupted = [], []
        for clip_id, task in list(self._tasks.items()):
            if self.jobs.finishes_within(clip_id, grace):
                finishing.append(task)
            else:
                interrupted.append(clip_id)
                task.cancel()
        if interrupted:
            log.warning(
                "stopping: %d unfinished clip job(s) resume at the next start: %s",
                len(interrupted),
                ", ".join(interrupted),
            )
        if finishing:
            _done, late = await asyncio.wait(finishing, timeout=max(grace, 0))
            for task in late:
                log.warning("stopping: %s did not finish within %.0f s", task.get_name(), grace)
                task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
