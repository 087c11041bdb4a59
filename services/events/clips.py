"""Clip requests for alerts: ClipService.CreateClip per camera of the register,
and a background retry for the ones the clipper did not accept.

CreateClip is idempotent per (alert_id, camera_id), so asking again after a
timeout, a crash or a race with the retry loop never makes a second clip. The
POS call never fails because of the clipper: cameras it could not reach stay on
the alert's pending list and are retried with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import grpc
from opentelemetry import trace

from eventclip.config import Settings
from eventclip.events.models import AlertRecord
from eventclip.events.store import EventStore
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
    """Seconds between background retry rounds: ``initial``, doubled after every
    round that left something pending, up to ``maximum``. With nothing pending the
    loop only looks every ``idle_poll`` seconds (or when a request fails)."""

    initial: float = 1.0
    maximum: float = 30.0
    idle_poll: float = 60.0


@dataclass
class ClipRequester:
    """Requests the clips of alerts from the clipper at ``settings.services.clipper.target``."""

    settings: Settings
    store: EventStore
    retry: ClipRetryPolicy = field(default_factory=ClipRetryPolicy)

    def __post_init__(self) -> None:
        self._channel = open_channel(self.settings.services.clipper.target)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def request(self, alert: AlertRecord) -> AlertRecord:
        """Ask for a clip from every camera still pending on ``alert``; returns the
        alert with the accepted clip ids recorded. Never raises for clipper errors."""
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
            pre_roll=to_duration(self.settings.clips.pre_roll_seconds),
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
            delay = self.retry.initial
            while True:
                await asyncio.sleep(delay)
                try:
                    remaining = await self.retry_pending()
                except Exception:  # a database hiccup must not end the loop
                    log.exception("clip retry round failed")
                    remaining = 1
                if not remaining:
                    break
                delay = min(delay * 2, self.retry.maximum)

    async def retry_pending(self) -> int:
        """One retry round over the alerts with pending cameras; returns how many
        alerts still have some. A fresh channel each round: a long-lived one may
        sit in reconnect backoff (up to minutes) after the clipper comes back."""
        alerts = await asyncio.to_thread(self.store.alerts_with_pending_clips)
        if not alerts:
            return 0
        with tracer.start_as_current_span("events.retry_clip_requests") as span:
            span.set_attribute("eventclip.alerts", len(alerts))
            async with open_channel(self.settings.services.clipper.target) as channel:
                done = await asyncio.gather(*(self._request_on(channel, a) for a in alerts))
        return sum(1 for alert in done if alert.clips_pending)
