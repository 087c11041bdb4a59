"""Clip requests for alerts: ClipService.CreateClip per camera of the register,
and a background retry for the ones the clipper did not accept.

CreateClip is idempotent per (alert_id, camera_id), so asking again after a
timeout or a crash never makes a second clip. The POS call never fails because
of the clipper: cameras it could not reach stay on the alert's pending list and
are retried with backoff (eventclip.retry).

An alert is *reserved* by the SubmitEvent that raises it from before it is
stored until its inline request has finished, and the retry loop, which finds
pending alerts in the database, leaves reserved alerts alone. Without that the
loop could pick up a new alert between its INSERT and its inline CreateClip and
create the clip first, outside the SubmitEvent's trace (and with a second
CreateClip for nothing). This assumes one events process per database, as
deployed; a second one would only repeat idempotent requests.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from opentelemetry import trace

from eventclip.config import Settings
from eventclip.events.models import AlertRecord
from eventclip.events.store import EventStore
from eventclip.retry import Backoff, retry_async
from eventclip.rpc import open_channel
from eventclip.timeutil import as_utc, to_duration, to_timestamp
from eventclip.v1 import clips_pb2, clips_pb2_grpc

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

#: Deadline of one CreateClip call (it only queues a job, so it is quick when
#: the clipper is up), seconds.
CREATE_CLIP_TIMEOUT_SECONDS = 5.0

#: Failures worth asking again later; anything else (INVALID_ARGUMENT: camera
#: unknown to the clipper, window too long...) will not change, so the camera
#: is given up and logged.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)


@dataclass
class ClipRetryPolicy:
    """How requests the clipper did not accept are retried: rounds over every
    alert with pending cameras, ``backoff`` apart while some stay pending (the
    request that woke the loop counts as attempt 1, so the first round waits
    ``backoff.delay(1)``). With nothing pending the loop looks every
    ``idle_poll`` seconds, or when a request fails."""

    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=30.0))
    idle_poll: float = 60.0


@dataclass
class ClipRequester:
    """Requests the clips of alerts from the clipper at ``settings.services.clipper.target``."""

    settings: Settings
    store: EventStore
    retry: ClipRetryPolicy = field(default_factory=ClipRetryPolicy)

    def __post_init__(self) -> None:
        self._channel = open_channel(self.settings.services.clipper.target, tls=self.settings.tls)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Alert ids whose inline request is in flight (count of reservations).
        self._reserved: collections.Counter[str] = collections.Counter()
        #: Alert ids released while a retry round reads the database (None
        #: when no round is reading): what it read of them may be stale.
        self._released_while_reading: set[str] | None = None

    @contextlib.contextmanager
    def reserve(self, alert_id: str) -> Iterator[None]:
        """Keep the retry loop off alert ``alert_id`` inside the block: enter it
        before the alert is stored, leave it once its inline request is done."""
        self._reserved[alert_id] += 1
        try:
            yield
        finally:
            self._reserved[alert_id] -= 1
            if not self._reserved[alert_id]:
                del self._reserved[alert_id]
            if self._released_while_reading is not None:
                # The round reading now skips it: have the loop look again.
                self._released_while_reading.add(alert_id)
                self._wake.set()

    async def request(self, alert: AlertRecord) -> AlertRecord:
        """Ask for a clip from every camera still pending on ``alert``; returns the
        alert with the accepted clip ids recorded. Never raises for clipper errors;
        cameras left pending wake the retry loop."""
        with self.reserve(alert.id):
            updated = await self._request_on(self._channel, alert)
        if updated.clips_pending:
            self._wake.set()
        return updated

    async def _request_on(self, channel: grpc.aio.Channel, alert: AlertRecord) -> AlertRecord:
        if not alert.pending_cameras:
            return alert
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        cameras = list(alert.pending_cameras)
        results = await asyncio.gather(
            *(self._create_clip(stub, alert, camera) for camera in cameras)
        )
        accepted = {c: r for c, r in zip(cameras, results, strict=True) if isinstance(r, str)}
        given_up = [c for c, r in zip(cameras, results, strict=True) if r is False]
        if not accepted and not given_up:
            return alert
        return await asyncio.to_thread(self.store.record_clips, alert.id, accepted, given_up)

    async def _create_clip(
        self, stub: clips_pb2_grpc.ClipServiceStub, alert: AlertRecord, camera: str
    ) -> str | bool | None:
        """The clip id; None to retry later; False when retrying cannot help."""
        request = clips_pb2.CreateClipRequest(
            camera_id=camera,
            event_time=to_timestamp(as_utc(alert.occurred_at)),
            pre_roll=to_duration(alert_pre_roll(alert, self.settings)),
            post_roll=to_duration(self.settings.clips.post_roll_seconds),
            event_id=alert.event_id,
            alert_id=alert.id,
        )
        try:
            clip = await stub.CreateClip(request, timeout=CREATE_CLIP_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as err:
            if err.code() in RETRYABLE:
                log.warning(
                    "CreateClip for alert %s camera %s failed (%s: %s); will retry",
                    alert.id,
                    camera,
                    err.code().name,
                    err.details(),
                )
                return None
            log.error(
                "CreateClip for alert %s camera %s rejected (%s: %s); giving up on it",
                alert.id,
                camera,
                err.code().name,
                err.details(),
            )
            return False
        return clip.id

    # -- background retry ---------------------------------------------------------

    def start(self) -> None:
        """Start the retry loop (it first looks for alerts left pending by an
        earlier run)."""
        self._wake.set()
        self._task = asyncio.create_task(self._retry_loop(), name="events-clip-retry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._channel.close()

    async def _retry_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.retry.idle_poll)
            self._wake.clear()
            await retry_async(
                self.retry_pending,
                self.retry.backoff,
                until=lambda still_pending: still_pending == 0,
                retry_on=(Exception,),  # a database hiccup must not end the loop
                attempts_before=1,
                log=log,
                what="clip request round",
            )

    async def retry_pending(self) -> int:
        """One retry round over the alerts with pending cameras that no inline
        request holds; returns how many of them still have some. A fresh channel
        each round: a long-lived one may sit in reconnect backoff (up to minutes)
        after the clipper comes back."""
        self._released_while_reading = set()
        try:
            alerts = await asyncio.to_thread(self.store.alerts_with_pending_clips)
            released = self._released_while_reading
        finally:
            self._released_while_reading = None
        # An alert released during the read was read before its request ended;
        # the release woke the loop, so the next round reads it afresh.
        alerts = [a for a in alerts if a.id not in self._reserved and a.id not in released]
        if not alerts:
            return 0
        with tracer.start_as_current_span("events.retry_clip_requests") as span:
            span.set_attribute("eventclip.alerts", len(alerts))
            async with open_channel(
                self.settings.services.clipper.target, tls=self.settings.tls
            ) as channel:
                done = await asyncio.gather(*(self._request_on(channel, a) for a in alerts))
        return sum(1 for alert in done if alert.clips_pending)


def alert_pre_roll(alert: AlertRecord, settings: Settings) -> float:
    """Seconds of pre-roll for ``alert``'s clips: its own (related events), or
    the configured one."""
    if alert.pre_roll_seconds is not None:
        return alert.pre_roll_seconds
    return settings.clips.pre_roll_seconds
