"""POS events over MQTT: many store systems already publish to a broker.

A POS publishes each event as the proto3 JSON of ``PosEvent`` (the same
JSON ``POST /api/v1/events`` takes) on ``{prefix}/pos/{store}/{register}``
at QoS 1. Each is submitted exactly as SubmitEvent would be, so it is
idempotent by ``eventId``: a redelivered message makes nothing twice.
The topic names the store and register; an event may leave ``storeId``
and ``registerId`` out (the topic's are used) but may not contradict them.

A message that cannot be stored (not JSON, not a PosEvent, a field that
fails validation, an unknown register, an ``eventId`` reused for another
event) is published to ``{prefix}/deadletter`` as
``{"topic", "error", "payload"}`` (payload: the message as text) and
nothing is stored. Messages are handled one at a time in arrival order,
so one register's events are scored in the order it sent them.
Connection and delivery: ``eventclip.mqtt``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiomqtt

from eventclip.config import MqttConfig
from eventclip.errors import InvalidArgument, ServiceError
from eventclip.json_input import parse_json
from eventclip.mqtt import MqttSubscription
from eventclip.retry import Backoff
from eventclip.v1 import events_pb2

log = logging.getLogger(__name__)

#: Longest payload accepted, bytes (a 500-line receipt is ~100 kB).
MAX_PAYLOAD_BYTES = 1_000_000


class PosEventSubscriber:
    """Subscribes to ``{prefix}/pos/+/+`` and submits each event through
    ``processor`` (the events service's EventProcessor)."""

    def __init__(self, config: MqttConfig, processor: Any, backoff: Backoff | None = None) -> None:
        self.prefix = config.topic_prefix.rstrip("/")
        self.processor = processor
        self.dead_letter_topic = f"{self.prefix}/deadletter"
        self.subscription = MqttSubscription(
            config.url,
            [f"{self.prefix}/pos/+/+"],
            self._on_message,
            "pos-mqtt",
            # A persistent session: what POS systems publish while the events
            # service restarts waits at the broker.
            client_id=f"eventclip-events-{self.prefix}"[:64],
            backoff=backoff,
        )
        self.subscribed = self.subscription.subscribed

    async def run(self) -> None:
        """Until cancelled (reconnects when the broker is gone)."""
        await self.subscription.run()

    async def _on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        payload = bytes(message.payload or b"")
        try:
            await self.submit(topic, payload)
        except ServiceError as err:
            await self._dead_letter(client, topic, str(err), payload)
        except Exception as err:  # the database is down, say: kept for a replay
            log.exception("pos-mqtt: event on %s not stored", topic)
            await self._dead_letter(client, topic, f"not stored: {err}", payload)

    async def submit(self, topic: str, payload: bytes) -> events_pb2.SubmitEventResponse:
        """Submit one message's event. Raises InvalidArgument (not a PosEvent,
        or one that contradicts its topic) and what SubmitEvent raises."""
        event = parse_event(topic, payload, self.prefix)
        return await self.processor.submit(events_pb2.SubmitEventRequest(event=event))

    async def _dead_letter(
        self, client: aiomqtt.Client, topic: str, error: str, payload: bytes
    ) -> None:
        log.warning("pos-mqtt: message on %s refused: %s", topic, error)
        letter = {
            "topic": topic,
            "error": error,
            "payload": payload[:MAX_PAYLOAD_BYTES].decode("utf-8", "replace"),
        }
        await client.publish(self.dead_letter_topic, json.dumps(letter), qos=1)


def parse_event(topic: str, payload: bytes, prefix: str) -> events_pb2.PosEvent:
    """The PosEvent of a message on ``{prefix}/pos/{store}/{register}``, store
    and register filled in from the topic when the event leaves them out.
    Raises InvalidArgument saying what is wrong (``lines[0].amount must be a
    JSON object ...``)."""
    parts = topic.split("/")
    store, register = parts[-2], parts[-1]
    if topic != f"{prefix}/pos/{store}/{register}":
        raise InvalidArgument(f"topic {topic} is not {prefix}/pos/{{store}}/{{register}}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidArgument(f"payload is {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidArgument(f"payload is not JSON: {err}") from None
    event = parse_json(data, events_pb2.PosEvent)
    for name, value in (("store_id", store), ("register_id", register)):
        sent = getattr(event, name)
        if not sent:
            setattr(event, name, value)
        elif sent != value:
            raise InvalidArgument(
                f"event.{name} is {sent!r} but the topic {topic} says {value!r}; "
                "publish each register's events on its own topic"
            )
    return event
