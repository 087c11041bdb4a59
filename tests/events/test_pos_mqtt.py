"""POS events over a REAL Mosquitto (a private broker, so it can be restarted):
proto3 JSON PosEvents on eventclip/pos/{store}/{register} are scored like
SubmitEvent, a redelivered message makes nothing twice, what cannot be
stored goes to the dead-letter topic with nothing stored, and the subscriber
comes back after a broker restart and after its own restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mosquitto import Broker, private_broker

from eventclip.timeutil import utcnow
from eventclip.v1 import events_pb2

from .harness import REGISTER, Events, make_settings, running

PREFIX = "shop"
TOPIC = f"{PREFIX}/pos/s1/{REGISTER}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with private_broker(tmp_path) as started:
        yield started


def refund_json(event_id: str, **fields: Any) -> dict[str, Any]:
    """An unapproved USD 500.00 refund with its receipt, as a POS publishes it."""
    return {
        "eventId": event_id,
        "type": "REFUND",
        "operatorId": "op-7",
        "transactionId": "tx-2",
        "originalTransactionId": "tx-1",
        "amount": {"currencyCode": "USD", "units": "500"},
        "occurredAt": utcnow().isoformat().replace("+00:00", "Z"),
        "lines": [
            {
                "sku": "4006381333931",
                "description": "Espresso machine",
                "quantity": 1,
                "amount": {"currencyCode": "USD", "units": "500"},
            }
        ],
        "tender": {"kind": "CARD", "cardLast4": "4242"},
        **fields,
    }


async def publish(port: int, *messages: tuple[str, bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def eventually(condition: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := await condition()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return found


def stored(events: Events, event_id: str) -> Any:
    return events.service.processor.store.get_event(event_id)


def settings_for(tmp_path: Path, broker: Broker) -> Any:
    return make_settings(tmp_path, mqtt={"url": broker.url, "topic_prefix": PREFIX})


async def subscribed(events: Events) -> None:
    assert events.service.pos_mqtt is not None
    await asyncio.wait_for(events.service.pos_mqtt.subscribed.wait(), 10)


async def test_a_refund_over_mqtt_raises_one_alert_even_when_delivered_twice(
    tmp_path: Path, broker: Broker
) -> None:
    async with running(settings_for(tmp_path, broker)) as events:
        await subscribed(events)
        payload = json.dumps(refund_json("mqtt-1")).encode()
        await publish(broker.port, (TOPIC, payload), (TOPIC, payload))

        async def alerts() -> list[events_pb2.Alert]:
            return await events.alerts()

        [alert] = await eventually(alerts)
        # The duplicate is handled after the first (one at a time, in order).
        await publish(
            broker.port,
            (
                TOPIC,
                json.dumps(
                    refund_json("mqtt-2", amount={"currencyCode": "USD", "units": "5"}, lines=[])
                ).encode(),
            ),
        )
        await eventually(lambda: asyncio.to_thread(stored, events, "mqtt-2"))
        assert len(await events.alerts()) == 1
        assert alert.event_id == "mqtt-1" and alert.register_id == REGISTER
        assert alert.store_id == "s1"  # from the topic
        assert alert.event.lines[0].sku == "4006381333931"
        assert alert.event.tender.card_last4 == "4242"
        assert alert.event.original_transaction_id == "tx-1"


async def test_what_cannot_be_stored_goes_to_the_dead_letter_topic(
    tmp_path: Path, broker: Broker
) -> None:
    bad = [
        (TOPIC, b"not json", "payload is not JSON"),
        (
            TOPIC,
            json.dumps(refund_json("dl-1", amount=500.5)).encode(),
            "amount must be a JSON object (Money",
        ),
        (
            TOPIC,
            json.dumps(refund_json("dl-2", occurredAt="yesterday")).encode(),
            "occurredAt must be an RFC 3339 time",
        ),
        (
            TOPIC,
            json.dumps(
                refund_json(
                    "dl-3", amount={"currencyCode": "USD", "units": "500", "nanos": 123000000}
                )
            ).encode(),
            "USD has 2 decimal places",
        ),
        (
            f"{PREFIX}/pos/s1/till-9",
            json.dumps(refund_json("dl-4")).encode(),
            "register till-9 is not configured",
        ),
        (
            TOPIC,
            json.dumps(refund_json("dl-5", registerId="till-2")).encode(),
            "event.register_id is 'till-2' but the topic",
        ),
    ]
    async with running(settings_for(tmp_path, broker)) as events:
        await subscribed(events)
        async with aiomqtt.Client("127.0.0.1", broker.port) as listener:
            await listener.subscribe(f"{PREFIX}/deadletter", qos=1)
            await publish(broker.port, *[(topic, payload) for topic, payload, _ in bad])
            letters = []
            async with asyncio.timeout(15):
                async for message in listener.messages:
                    letters.append(json.loads(bytes(message.payload)))
                    if len(letters) == len(bad):
                        break
        for letter, (topic, payload, error) in zip(letters, bad, strict=True):
            assert letter["topic"] == topic
            assert error in letter["error"], letter
            assert letter["payload"] == payload.decode()
        assert await events.alerts() == []
        for event_id in ("dl-1", "dl-2", "dl-3", "dl-4", "dl-5"):
            assert await asyncio.to_thread(stored, events, event_id) is None


async def test_the_subscriber_comes_back_after_a_broker_restart_and_its_own(
    tmp_path: Path, broker: Broker
) -> None:
    settings = settings_for(tmp_path, broker)
    async with running(settings) as events:
        await subscribed(events)
        broker.stop()
        pos_mqtt = events.service.pos_mqtt
        assert pos_mqtt is not None

        async def unsubscribed() -> bool:
            return not pos_mqtt.subscribed.is_set()

        await eventually(unsubscribed)
        broker.start()
        await asyncio.wait_for(pos_mqtt.subscribed.wait(), 20)
        await publish(broker.port, (TOPIC, json.dumps(refund_json("after-broker")).encode()))
        await eventually(lambda: asyncio.to_thread(stored, events, "after-broker"))
    # The events service is down; the broker keeps its session's messages.
    await publish(broker.port, (TOPIC, json.dumps(refund_json("while-down")).encode()))
    async with running(settings) as events:
        found = await eventually(lambda: asyncio.to_thread(stored, events, "while-down"))
        assert found.register_id == REGISTER
        assert {a.event_id for a in await events.alerts()} == {"after-broker", "while-down"}
