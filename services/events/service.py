"""The events service: POS events in, risk assessments and alerts out.

``EventServicer`` (gRPC) stays thin; ``EventProcessor`` holds the logic:

SubmitEvent follows Stripe's idempotency-key model. The event_id is claimed
first (an INSERT into pos_events, unique), then the event is scored, an alert is
raised (unique per event) and clips are requested (CreateClip is idempotent per
alert and camera), and only then is the response stored on the claim. A retry
of the same event returns that stored response with ``replayed`` set; the same
event_id with other content is ALREADY_EXISTS. A retry that finds the claim
without a response waits for the attempt in flight, and when that attempt is
older than it could still be running (it crashed), finishes the remaining steps
itself: each of them is safe to repeat, so at most one alert and one clip per
camera ever exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
import pluggy
from opentelemetry import trace
from pydantic import BaseModel

from eventclip import pagination
from eventclip.config import Settings
from eventclip.errors import AlreadyExists, InvalidArgument, NotFound, ServiceError
from eventclip.events import messages, risk
from eventclip.events.clip_window import split_cameras
from eventclip.events.clips import CREATE_CLIP_TIMEOUT_SECONDS, ClipRequester, ClipRetryPolicy
from eventclip.events.detectors import (
    DetectionsHandler,
    DetectionSubmitter,
    Detectors,
    detector_options,
)
from eventclip.events.frigate import FrigateSubscriber
from eventclip.events.history import EventHistory
from eventclip.events.incidents import Incidents
from eventclip.events.models import AlertRecord, PosEventRecord
from eventclip.events.plugin_options import rule_options
from eventclip.events.plugins import PluginLoadError, PluginRunner, create_plugin_manager
from eventclip.events.pos_mqtt import PosEventSubscriber
from eventclip.events.store import EventStore
from eventclip.events.streaming import answers_in_order
from eventclip.notifications import Notifier
from eventclip.pagination import PageCursor
from eventclip.retry import Backoff, retry_async
from eventclip.rpc import Registration, grpc_method, internal_error, open_channel, start_server
from eventclip.timeutil import as_utc, from_timestamp, utcnow
from eventclip.v1 import events_pb2, events_pb2_grpc
from eventclip.validation import check_request

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

SERVICE_NAME = events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name
#: Longest a first attempt can take beyond scoring and clip requests (database
#: round trips), seconds; a claim older than that without a response crashed.
ATTEMPT_SLACK_SECONDS = 5.0
#: How a retried event polls for the first attempt's response: 10 ms doubling
#: to 250 ms (most first attempts finish within tens of milliseconds).
REPLAY_POLL = Backoff(initial=0.01, maximum=0.25)


class EventProcessor:
    """SubmitEvent, GetAlert and ListAlerts on plain messages (no gRPC context)."""

    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        runner: PluginRunner,
        clips: ClipRequester,
        rule_options: Mapping[str, BaseModel | Mapping[str, Any]] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        #: Told of each alert raised (eventclip.notifications).
        self.notifier = notifier
        #: Each rule plugin's validated options (plugin_options.rule_options).
        self.rule_options = dict(rule_options or {})
        self.store = store
        self.runner = runner
        self.clips = clips
        self.incidents = Incidents(
            settings.detections.cooldown_seconds, settings.detections.same_place_iou
        )
        self._incident_lock = asyncio.Lock()
        #: How long a retry waits for the first attempt of the same event.
        self.attempt_budget = timedelta(
            seconds=settings.plugin_timeout_seconds
            + CREATE_CLIP_TIMEOUT_SECONDS
            + ATTEMPT_SLACK_SECONDS
        )

    async def submit(
        self, request: events_pb2.SubmitEventRequest
    ) -> events_pb2.SubmitEventResponse:
        """Score ``request.event``; at or over the threshold raise an alert and
        request its clips. Idempotent by event_id (see the module docstring).

        Raises InvalidArgument (the message names the field), NotFound (register
        not configured), AlreadyExists (event_id reused with different content).
        """
        if not request.HasField("event"):
            raise InvalidArgument("event is required")
        event = request.event
        messages.validate_event(event, self.settings)
        claim = messages.to_record(event, utcnow())
        earlier = await asyncio.to_thread(self.store.claim, claim)
        if earlier is None:
            response = await self._process(event)
            stored = await asyncio.to_thread(
                self.store.complete, event.event_id, response.SerializeToString()
            )
            return events_pb2.SubmitEventResponse.FromString(stored)
        if earlier.fingerprint != claim.fingerprint:
            raise AlreadyExists(
                f"event_id {event.event_id} was already used for a different event "
                f"(first received {as_utc(earlier.create_time).isoformat()}); "
                "send a new event_id for a new event"
            )
        return await self._replay(event, earlier)

    async def _replay(
        self, event: events_pb2.PosEvent, earlier: PosEventRecord
    ) -> events_pb2.SubmitEventResponse:
        """The first response of a retried event, waiting for or finishing the
        first attempt when it has not stored one."""
        budget = (as_utc(earlier.create_time) + self.attempt_budget - utcnow()).total_seconds()
        if earlier.response is None and budget > 0:
            earlier = await retry_async(
                lambda: asyncio.to_thread(self._claimed, event.event_id),
                REPLAY_POLL,
                until=lambda found: found.response is not None,
                give_up_after=budget,
                attempts_before=1,  # the claim that found it unanswered
            )
        stored = earlier.response
        if stored is None:
            log.warning("event %s: the first attempt did not finish; finishing it", event.event_id)
            response = await self._process(event)
            stored = await asyncio.to_thread(
                self.store.complete, event.event_id, response.SerializeToString()
            )
        replay = events_pb2.SubmitEventResponse.FromString(stored)
        replay.replayed = True
        return replay

    def _claimed(self, event_id: str) -> PosEventRecord:
        found = self.store.get_event(event_id)
        assert found is not None  # claims are never deleted
        return found

    async def _process(self, event: events_pb2.PosEvent) -> events_pb2.SubmitEventResponse:
        """Score the event, raise the alert when due, request clips: the response."""
        assessment = await self._assess(event)
        response = events_pb2.SubmitEventResponse(event=event, assessment=assessment)
        if not risk.raises_alert(assessment.risk_score, assessment.threshold):
            return response
        if event.type == events_pb2.PosEvent.DETECTION:
            found, occurred = event.detection, from_timestamp(event.occurred_at)
            place = messages.box_corners(found.box)
            # One at a time: two reports of one incident must not both open it.
            async with self._incident_lock:
                repeated = self.incidents.repeat_of(found.camera_id, found.label, place, occurred)
                if repeated is not None:
                    response.duplicate_of = repeated
                    return response
                alert = await self._raise_alert(event, assessment)
                self.incidents.opened(found.camera_id, found.label, place, occurred, alert.id)
        else:
            alert = await self._raise_alert(event, assessment)
        response.alert.CopyFrom(messages.alert_message(alert, event))
        response.clip_ids.extend(alert.clip_ids)
        if self.notifier is not None:
            self.notifier.alert(response.alert)
        return response

    async def restore_incidents(self) -> int:
        """Rebuild the open incidents from the detections stored within the
        cooldown (see ``eventclip.events.incidents``); how many are open."""
        since = utcnow() - self.incidents.cooldown
        stored = await asyncio.to_thread(self.store.detections_since, since)
        replay = []
        for record, alert_id in stored:
            event = messages.event_message(record)
            found, occurred = event.detection, from_timestamp(event.occurred_at)
            place = messages.box_corners(found.box)
            replay.append((found.camera_id, found.label, place, occurred, alert_id))
        return self.incidents.restore(replay)

    async def submit_detection(
        self, request: events_pb2.SubmitDetectionRequest
    ) -> events_pb2.SubmitEventResponse:
        """``request`` as a DETECTION event through ``submit`` (see
        SubmitDetection in events.proto). Raises as ``submit`` does, NotFound
        for an unknown camera."""
        if not request.HasField("detection"):
            raise InvalidArgument("detection is required")
        if not request.HasField("onset_time"):
            raise InvalidArgument("onset_time is required (when the thing began)")
        event = events_pb2.PosEvent(
            event_id=request.event_id,
            type=events_pb2.PosEvent.DETECTION,
            store_id=request.store_id,
            occurred_at=request.onset_time,
            attributes=request.attributes,
            detection=request.detection,
        )
        return await self.submit(events_pb2.SubmitEventRequest(event=event))

    async def _assess(self, event: events_pb2.PosEvent) -> events_pb2.Assessment:
        with tracer.start_as_current_span("events.score_event") as span:
            span.set_attribute("eventclip.event_id", event.event_id)
            span.set_attribute("eventclip.event_type", events_pb2.PosEvent.Type.Name(event.type))
            plugin_event = messages.to_plugin_event(event)
            outcome = await self.runner.score_event(
                plugin_event,
                lambda name: self.rule_options.get(name, {}),
                EventHistory(self.store, plugin_event),
            )
            results = [
                events_pb2.RuleResult(
                    rule=name,
                    score=score.score,
                    reason=score.reason,
                    related_event_ids=score.related_event_ids,
                )
                for name, score in outcome.scores
                if score.score > 0
            ]
            assessment = events_pb2.Assessment(
                risk_score=risk.combine(r.score for r in results),
                threshold=self.settings.risk_threshold,
                results=results,
                failed_rules=[failure.plugin for failure in outcome.failures],
            )
            span.set_attribute("eventclip.risk_score", assessment.risk_score)
            span.set_attribute("eventclip.failed_rules", list(assessment.failed_rules))
        return assessment

    async def _raise_alert(
        self, event: events_pb2.PosEvent, assessment: events_pb2.Assessment
    ) -> AlertRecord:
        register = self.settings.register(event.register_id)
        occurred = from_timestamp(event.occurred_at)
        if register is not None:  # the register's clock, set to the cameras'
            occurred -= timedelta(seconds=register.clock_offset_seconds)
        # A detection is on its own camera's video; a POS event on its register's.
        wanted = (
            [event.detection.camera_id]
            if event.HasField("detection")
            else list(register.cameras if register else [])
        )
        cameras, no_clip_reason = split_cameras(
            occurred,
            utcnow(),
            [c for c in map(self.settings.camera, wanted) if c],
            self.settings.clips,
        )
        if register is not None and not register.cameras:
            no_clip_reason = f"no clip: register {register.id} has no cameras"
        record = AlertRecord(
            id=uuid.uuid4().hex,
            event_id=event.event_id,
            store_id=event.store_id,
            register_id=event.register_id,
            risk_score=assessment.risk_score,
            reasons=[
                {
                    "rule": r.rule,
                    "score": r.score,
                    "reason": r.reason,
                    **(
                        {"related_event_ids": list(r.related_event_ids)}
                        if r.related_event_ids
                        else {}
                    ),
                }
                for r in assessment.results
            ],
            pre_roll_seconds=await self._pre_roll_for_related(occurred, assessment),
            clip_ids=[],
            pending_cameras=cameras,
            clips_pending=bool(cameras),
            no_clip_reason=no_clip_reason,
            occurred_at=occurred,
            create_time=utcnow(),
        )
        # Reserved before it is stored, so the retry loop cannot request its
        # clips before this request does (see eventclip.events.clips).
        with self.clips.reserve(record.id):
            # An earlier, unfinished attempt may have raised it already: that one stays.
            alert = await asyncio.to_thread(self.store.create_alert, record)
            return await self.clips.request(alert)

    def on_video(self, event: PosEventRecord) -> datetime:
        """When a stored event is on video: its occurred_at on the cameras'
        clock (its register's clock offset applied)."""
        register = self.settings.register(event.register_id)
        offset = register.clock_offset_seconds if register is not None else 0.0
        return as_utc(event.occurred_at) - timedelta(seconds=offset)

    async def _pre_roll_for_related(
        self, occurred: datetime, assessment: events_pb2.Assessment
    ) -> float | None:
        """A pre-roll reaching the earliest related event the rules named, with
        the configured pre-roll before it, capped so the clip stays within
        clips.max_seconds; None when the configured one already covers them."""
        related = {i for r in assessment.results for i in r.related_event_ids}
        if not related:
            return None
        stored = await asyncio.to_thread(lambda: [self.store.get_event(i) for i in related])
        times = [self.on_video(e) for e in stored if e is not None]
        clips = self.settings.clips
        if not times or min(times) >= occurred - timedelta(seconds=clips.pre_roll_seconds):
            return None
        wanted = (occurred - min(times)).total_seconds() + clips.pre_roll_seconds
        return min(wanted, clips.max_seconds - clips.post_roll_seconds)

    async def get_alert(self, request: events_pb2.GetAlertRequest) -> events_pb2.Alert:
        """One alert with its event. Raises InvalidArgument (no id), NotFound."""
        if not request.id:
            raise InvalidArgument("id is required")
        found = await asyncio.to_thread(self.store.get_alert, request.id)
        if found is None:
            raise NotFound(f"alert {request.id} does not exist")
        alert, event = found
        return messages.alert_message(alert, messages.event_message(event))

    async def list_alerts(
        self, request: events_pb2.ListAlertsRequest
    ) -> events_pb2.ListAlertsResponse:
        """Alerts newest first, ``page_size`` (default 50, at most 1000) at a time
        (AIP-158). ``page_token`` is opaque and only valid with the filters it was
        issued for. Raises InvalidArgument for a negative page_size or a bad token."""
        size = pagination.page_size(request.page_size)
        filters = [request.store_id, request.register_id]
        after = pagination.decode_page_token(request.page_token, filters, "store_id/register_id")
        rows = await asyncio.to_thread(
            self.store.list_alerts, size + 1, after, request.store_id, request.register_id
        )
        response = events_pb2.ListAlertsResponse(
            alerts=[
                messages.alert_message(alert, messages.event_message(event))
                for alert, event in rows[:size]
            ]
        )
        if len(rows) > size:
            last = rows[size - 1][0]
            response.next_page_token = pagination.encode_page_token(
                PageCursor(as_utc(last.create_time), last.id), filters
            )
        return response


class EventServicer(events_pb2_grpc.EventServiceServicer):
    """eventclip.v1.EventService over gRPC; the logic is in EventProcessor."""

    def __init__(self, processor: EventProcessor) -> None:
        self.processor = processor

    @grpc_method
    async def SubmitEvent(
        self, request: events_pb2.SubmitEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.SubmitEventResponse:
        return await self.processor.submit(request)

    @grpc_method
    async def StreamEvents(
        self,
        requests: AsyncIterator[events_pb2.StreamEventsRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[events_pb2.StreamEventsResponse]:
        async for answer in answers_in_order(requests, self._stream_answer):
            yield answer

    async def _stream_answer(
        self, request: events_pb2.StreamEventsRequest
    ) -> events_pb2.StreamEventsResponse:
        """One streamed event's answer: its response, or the status SubmitEvent
        would have failed with."""
        answer = events_pb2.StreamEventsResponse(event_id=request.event.event_id)
        try:
            check_request(request)
            answer.response.CopyFrom(
                await self.processor.submit(events_pb2.SubmitEventRequest(event=request.event))
            )
        except ServiceError as err:
            answer.error.code, answer.error.message = err.code.value[0], str(err)
        except Exception as err:
            answer.error.code = grpc.StatusCode.INTERNAL.value[0]
            answer.error.message = internal_error("StreamEvents", err)
        return answer

    @grpc_method
    async def SubmitDetection(
        self, request: events_pb2.SubmitDetectionRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.SubmitEventResponse:
        return await self.processor.submit_detection(request)

    @grpc_method
    async def GetAlert(
        self, request: events_pb2.GetAlertRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Alert:
        return await self.processor.get_alert(request)

    @grpc_method
    async def ListAlerts(
        self, request: events_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListAlertsResponse:
        return await self.processor.list_alerts(request)


@dataclass
class EventsService:
    """The running events service (eventclip.rpc.RunningService)."""

    port: int
    server: grpc.aio.Server
    processor: EventProcessor
    #: The detector loops, None when no camera has detectors.
    detectors: Detectors | None = None
    #: The Frigate subscriber and its task, None without ``frigate:`` config.
    frigate: FrigateSubscriber | None = None
    frigate_task: asyncio.Task[None] | None = None
    #: The MQTT POS event subscriber and its task, None without ``mqtt:`` config.
    pos_mqtt: PosEventSubscriber | None = None
    pos_mqtt_task: asyncio.Task[None] | None = None
    name: str = "events"

    async def stop(self, grace: float) -> None:
        """Stop the detectors and the MQTT subscribers, drain in-flight RPCs
        for up to ``grace`` s, stop clip retries and close the database."""
        for task in (self.pos_mqtt_task, self.frigate_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.detectors is not None:
            await self.detectors.stop()
        await self.server.stop(grace)
        await self.processor.clips.stop()
        if self.processor.notifier is not None:
            await self.processor.notifier.close(min(grace, 2.0))
        await asyncio.to_thread(self.processor.store.close)


async def start(
    settings: Settings,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
    clip_retry: ClipRetryPolicy | None = None,
    on_detections: DetectionsHandler | None = None,
) -> EventsService:
    """Serve EventService on ``settings.services.events.bind`` (port 0 = any free
    port; the bound one is ``.port``).

    Loads the plugins (``settings.plugins`` allowlist; ``plugin_manager`` replaces
    that, for tests), migrates the database at ``settings.effective_database_url``
    and starts retrying clip requests left pending by an earlier run, and the
    detector loops of cameras with ``detectors`` (what they find is submitted
    as DETECTION events; ``on_detections`` replaces that, for tests), the
    Frigate subscriber when ``settings.frigate`` is set and the POS event
    subscriber when ``settings.mqtt`` is. Raises
    ConfigError (PluginLoadError) for a bad plugin, RuntimeError when the port
    cannot be bound.
    """
    pm = plugin_manager or create_plugin_manager(settings.plugins)
    # ConfigError before anything starts:
    chosen_rules = rule_options(pm, settings.rules)
    chosen_detectors = detector_options(pm, settings.cameras)
    runner = PluginRunner(pm, settings.plugin_timeout_seconds)
    if failed := await runner.startup(lambda name: chosen_rules.get(name, {})):
        raise PluginLoadError(
            "plugins failed to start: "
            + "; ".join(f"{f.plugin}: {f.error}" for f in failed)
            + " (fix them, or leave them out of the `plugins` allowlist)"
        )
    store = await asyncio.to_thread(EventStore.open, settings.effective_database_url)
    clips = ClipRequester(settings, store, clip_retry or ClipRetryPolicy())
    notifier = Notifier(settings.notifications, settings.mqtt)
    processor = EventProcessor(settings, store, runner, clips, chosen_rules, notifier)
    if open_incidents := await processor.restore_incidents():
        log.info("%d detection incident(s) still open from before the start", open_incidents)
    try:
        server, port = await start_server(
            settings.services.events.bind,
            [
                Registration(
                    events_pb2_grpc.add_EventServiceServicer_to_server,
                    EventServicer(processor),
                    SERVICE_NAME,
                )
            ],
            tls=settings.tls,
        )
    except BaseException:
        await clips.stop()
        await asyncio.to_thread(store.close)
        raise
    clips.start()
    notifier.start()
    detectors = None
    if chosen_detectors:
        detectors = Detectors(
            settings.cameras,
            chosen_detectors,
            open_channel(settings.services.buffer.target, tls=settings.tls),
            runner,
            on_detections or DetectionSubmitter(processor),
        )
        detectors.start()
    frigate, frigate_task = None, None
    if settings.frigate is not None:
        frigate = FrigateSubscriber(settings.frigate, processor)
        frigate_task = asyncio.create_task(frigate.run(), name="frigate")
    pos_mqtt, pos_mqtt_task = None, None
    if settings.mqtt is not None:
        pos_mqtt = PosEventSubscriber(settings.mqtt, processor)
        pos_mqtt_task = asyncio.create_task(pos_mqtt.run(), name="pos-mqtt")
    log.info("events listening on %s (port %d)", settings.services.events.bind, port)
    return EventsService(
        port=port,
        server=server,
        processor=processor,
        detectors=detectors,
        frigate=frigate,
        frigate_task=frigate_task,
        pos_mqtt=pos_mqtt,
        pos_mqtt_task=pos_mqtt_task,
    )
