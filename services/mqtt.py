"""One MQTT subscription that outlives its broker: connect, subscribe, hand
each message to a handler, and reconnect with backoff when the broker goes
away (aiomqtt on paho-mqtt). The events service's MQTT inputs (POS events,
Frigate's detections) run on it.

Delivery: QoS 1 subscriptions on a persistent session (``clean_session``
off, a fixed client id), so the broker keeps what arrives while eventclip
is disconnected, as long as the broker itself keeps running. paho
acknowledges a message when it is received, before the handler runs: a
crash between the two loses that message unless the sender publishes it
again (a redelivered POS event makes nothing twice: event ids are
idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import aiomqtt

from eventclip.retry import Backoff

log = logging.getLogger(__name__)

#: ``handle(client, message)``: the client is connected, for replies (a dead letter).
Handler = Callable[[aiomqtt.Client, aiomqtt.Message], Awaitable[None]]


def broker_address(url: str) -> tuple[str, int]:
    """(host, port) of ``mqtt://host[:port]`` (port 1883 by default)."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


class MqttSubscription:
    """Subscribes ``topics`` (QoS 1) on the broker at ``url`` and awaits
    ``handle`` for each message, one at a time, in the order received.
    ``name`` prefixes the log lines; ``client_id``: a fixed id for a
    persistent session (None: a clean session with a random id)."""

    def __init__(
        self,
        url: str,
        topics: Sequence[str],
        handle: Handler,
        name: str,
        client_id: str | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.host, self.port = broker_address(url)
        self.topics = list(topics)
        self.handle = handle
        self.name = name
        self.client_id = client_id
        self.backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        #: Set while subscribed (tests and health wait on it).
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled. A handler that raises is logged and the next
        message is handled: one bad message never stops the subscription."""
        attempt = 0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    clean_session=self.client_id is None,
                ) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    attempt = 0
                    log.info(
                        "%s: subscribed to %s on %s:%d",
                        self.name,
                        ", ".join(self.topics),
                        self.host,
                        self.port,
                    )
                    async for message in client.messages:
                        try:
                            await self.handle(client, message)
                        except aiomqtt.MqttError:
                            raise
                        except Exception:
                            log.exception("%s: message on %s not handled", self.name, message.topic)
            except aiomqtt.MqttError as err:
                self.subscribed.clear()
                attempt += 1
                delay = self.backoff.delay(attempt)
                log.warning(
                    "%s: MQTT broker %s:%d unavailable (%s); again in %.1f s",
                    self.name,
                    self.host,
                    self.port,
                    err,
                    delay,
                )
                await asyncio.sleep(delay)
