"""Telling people when something happened: an alert raised, a clip READY or
FAILED, as MQTT publications and signed webhooks.

* MQTT (with ``mqtt:`` configured and ``notifications.mqtt`` on):
  ``{prefix}/alerts/{store}`` carries the proto3 JSON of the Alert,
  ``{prefix}/clips/{camera}`` that of the Clip, QoS 1.
* Webhooks (``notifications.webhooks``): the same JSON bytes POSTed to each
  URL whose ``events`` include the kind, with ``X-Eventclip-Event: alert|clip``,
  ``X-Eventclip-Delivery`` (one id per notification, the same on every retry:
  receivers drop repeats by it) and ``X-Eventclip-Signature:
  sha256=<hex HMAC-SHA256(secret, body)>`` (GitHub's scheme), retried with
  backoff on connection errors, 429 and 5xx, up to ``max_attempts``.

Never blocking: ``alert``/``clip`` only put the notification on each sink's
bounded queue; a task per sink sends. A full queue drops its oldest (counted
and logged), and nothing is kept across a restart: delivery is at least once
while the service runs, best effort beyond that.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass

import aiomqtt
import httpx
from google.protobuf import json_format
from google.protobuf.message import Message

from eventclip.config import MqttConfig, NotificationsConfig, WebhookConfig
from eventclip.mqtt import broker_address
from eventclip.retry import Backoff
from eventclip.v1 import clips_pb2, events_pb2

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Eventclip-Signature"
EVENT_HEADER = "X-Eventclip-Event"
DELIVERY_HEADER = "X-Eventclip-Delivery"


@dataclass(frozen=True)
class Notification:
    """One thing to tell: ``kind`` "alert" or "clip", the MQTT ``topic``, the
    JSON ``body`` (bytes, sent as is everywhere) and its ``delivery`` id."""

    kind: str
    topic: str
    body: bytes
    delivery: str


def signature(secret: str, body: bytes) -> str:
    """The X-Eventclip-Signature value of ``body``: "sha256=" + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _json(message: Message) -> bytes:
    as_dict = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return json.dumps(as_dict, separators=(",", ":")).encode()


class _Sink:
    """A bounded queue and the task that empties it through ``send``."""

    name = "sink"

    def __init__(self, queue_size: int) -> None:
        self.queue: collections.deque[Notification] = collections.deque()
        self.queue_size = queue_size
        self.dropped = 0
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None

    def put(self, notification: Notification) -> None:
        if len(self.queue) >= self.queue_size:
            del self.queue[1]  # the oldest waiting: queue[0] may be on its way
            self.dropped += 1
            log.warning(
                "%s: queue full, oldest notification dropped (%d so far)", self.name, self.dropped
            )
        self.queue.append(notification)
        self._drained.clear()
        self._ready.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def close(self, grace: float) -> None:
        """Send what is queued for up to ``grace`` s, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._drained.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.queue:
            log.warning("%s: %d notification(s) not sent at stop", self.name, len(self.queue))

    async def _next(self) -> Notification:
        while not self.queue:
            self._ready.clear()
            await self._ready.wait()
        return self.queue[0]

    def _sent(self) -> None:
        """The oldest notification is done with (sent, or given up)."""
        self.queue.popleft()
        if not self.queue:
            self._drained.set()

    async def _run(self) -> None:
        raise NotImplementedError


class _MqttSink(_Sink):
    """Publishes each notification on its topic (QoS 1), reconnecting with backoff."""

    name = "notify-mqtt"

    def __init__(self, config: MqttConfig, queue_size: int, backoff: Backoff) -> None:
        super().__init__(queue_size)
        self.host, self.port = broker_address(config.url)
        self.backoff = backoff

    async def _run(self) -> None:
        attempt = 0
        while True:
            await self._next()
            try:
                async with aiomqtt.Client(self.host, self.port) as client:
                    attempt = 0
                    while True:
                        item = await self._next()
                        await client.publish(item.topic, item.body, qos=1)
                        self._sent()
            except aiomqtt.MqttError as err:
                attempt += 1
                delay = self.backoff.delay(attempt)
                log.warning(
                    "%s: broker %s:%d unavailable (%s); again in %.1f s",
                    self.name,
                    self.host,
                    self.port,
                    err,
                    delay,
                )
                await asyncio.sleep(delay)


class _WebhookSink(_Sink):
    """POSTs each notification of the kinds it wants, signed, with retries."""

    def __init__(
        self, config: WebhookConfig, settings: NotificationsConfig, backoff: Backoff
    ) -> None:
        super().__init__(settings.queue_size)
        self.config = config
        self.name = f"webhook {config.url}"
        self.timeout = settings.timeout_seconds
        self.max_attempts = settings.max_attempts
        self.backoff = backoff

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                item = await self._next()
                await self._deliver(client, item)
                self._sent()

    async def _deliver(self, client: httpx.AsyncClient, item: Notification) -> None:
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: item.kind,
            DELIVERY_HEADER: item.delivery,
            SIGNATURE_HEADER: signature(self.config.secret.get_secret_value(), item.body),
        }
        for attempt in range(1, self.max_attempts + 1):
            try:
                reply = await client.post(self.config.url, content=item.body, headers=headers)
                if reply.status_code < 300:
                    return
                retry = reply.status_code == 429 or reply.status_code >= 500
                why = f"HTTP {reply.status_code}"
            except httpx.HTTPError as err:
                retry, why = True, f"{type(err).__name__}: {err}"
            if not retry or attempt == self.max_attempts:
                log.warning(
                    "%s: %s %s not delivered after %d attempt(s): %s",
                    self.name,
                    item.kind,
                    item.delivery,
                    attempt,
                    why,
                )
                return
            await asyncio.sleep(self.backoff.delay(attempt))


class Notifier:
    """The sinks ``settings`` configure; ``alert`` and ``clip`` return at once."""

    def __init__(
        self,
        config: NotificationsConfig,
        mqtt: MqttConfig | None,
        backoff: Backoff | None = None,
    ) -> None:
        backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.prefix = mqtt.topic_prefix.rstrip("/") if mqtt is not None else ""
        self._sinks: dict[str, list[_Sink]] = {"alert": [], "clip": []}
        if mqtt is not None and config.mqtt:
            broker = _MqttSink(mqtt, config.queue_size, backoff)
            self._sinks["alert"].append(broker)
            self._sinks["clip"].append(broker)
        for webhook in config.webhooks:
            sink = _WebhookSink(webhook, config, backoff)
            for kind in webhook.events:
                self._sinks[kind].append(sink)
        self.sinks = list({id(s): s for kinds in self._sinks.values() for s in kinds}.values())

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()

    async def close(self, grace: float = 2.0) -> None:
        """Give queued notifications up to ``grace`` s, then stop."""
        await asyncio.gather(*(sink.close(grace) for sink in self.sinks))

    def alert(self, alert: events_pb2.Alert) -> None:
        """Tell that ``alert`` was raised (topic ``{prefix}/alerts/{store}``)."""
        self._put("alert", f"{self.prefix}/alerts/{alert.store_id or '-'}", alert)

    def clip(self, clip: clips_pb2.Clip) -> None:
        """Tell that ``clip`` ended READY or FAILED (topic ``{prefix}/clips/{camera}``)."""
        self._put("clip", f"{self.prefix}/clips/{clip.camera_id}", clip)

    def _put(self, kind: str, topic: str, message: Message) -> None:
        if not self._sinks[kind]:
            return
        notification = Notification(kind, topic, _json(message), uuid.uuid4().hex)
        for sink in self._sinks[kind]:
            sink.put(notification)
