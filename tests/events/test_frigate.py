"""Frigate interop with a REAL Mosquitto (a private broker on a free port, so
it can be stopped): Frigate's frigate/events messages, in its own format,
become one DETECTION event and one alert per tracked object, with a clip of
the mapped camera from the REAL clipper; what is not a true positive of a
mapped camera is ignored; and the subscriber comes back when the broker
restarts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from mosquitto import Broker, private_broker

from eventclip.v1 import events_pb2

from .harness import BUILTIN_RULES, make_settings, running

clipper_service = pytest.importorskip("eventclip.clipper.service")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with private_broker(tmp_path) as started:
        yield started


def frigate_event(kind: str, object_id: str, camera: str = "front_door", **after: object) -> bytes:
    """A frigate/events message as Frigate sends it (docs.frigate.video, MQTT)."""
    start = time.time() - 2
    state = {
        "id": object_id,
        "camera": camera,
        "frame_time": start + 1.5,
        "snapshot": None,
        "label": "person",
        "sub_label": None,
        "top_score": 0.91,
        "false_positive": False,
        "start_time": start,
        "end_time": None if kind != "end" else start + 5,
        "score": 0.84,
        "box": [320, 180, 640, 540],
        "area": 115200,
        "ratio": 0.89,
        "region": [260, 120, 700, 560],
        "current_zones": ["entrance"],
        "entered_zones": ["entrance"],
        "thumbnail": None,
        "has_snapshot": True,
        "has_clip": True,
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 1,
        "attributes": {},
        **after,
    }
    return json.dumps({"type": kind, "before": state, "after": state}).encode()


async def publish(port: int, *payloads: bytes, topic: str = "frigate/events") -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


async def wait_for(condition, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_frigate_objects_become_one_alert_each_and_survive_a_broker_restart(
    tmp_path: Path, broker: Broker
) -> None:
    settings = make_settings(
        tmp_path,
        plugins=[*BUILTIN_RULES, "detection_confidence"],
        frigate={
            "mqtt_url": f"mqtt://127.0.0.1:{broker.port}",
            "cameras": {
                "front_door": "cam1",
                "yard": {"camera": "cam2", "width": 640, "height": 360},
            },
        },
    )
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            subscriber = events.service.frigate
            assert subscriber is not None
            await asyncio.wait_for(subscriber.subscribed.wait(), 10)

            async def alerts() -> list[events_pb2.Alert]:
                return await events.alerts()

            await publish(
                broker.port,
                frigate_event("new", "1700.1-abc"),
                frigate_event("update", "1700.1-abc", top_score=0.95, box=[330, 190, 650, 545]),
                frigate_event("end", "1700.1-abc"),
                frigate_event("new", "1700.2-def", camera="garage"),  # not mapped
                frigate_event("new", "1700.3-ghi", false_positive=True),
                b"not json at all",
                json.dumps({"type": "new"}).encode(),  # no "after"
                frigate_event("new", "1700.4-jkl", camera="yard", label="car"),
            )

            async def two_alerts() -> bool:
                return len(await alerts()) >= 2

            await wait_for(two_alerts)
            await asyncio.sleep(0.5)  # anything else would have arrived by now
            by_camera = {a.event.detection.camera_id: a for a in await alerts()}
            assert set(by_camera) == {"cam1", "cam2"}
            door = by_camera["cam1"]
            assert door.event.event_id == "frigate-1700.1-abc"
            found = door.event.detection
            assert (found.label, found.detector) == ("person", "frigate")
            assert found.confidence == pytest.approx(0.91)  # the top score, from "new"
            # Pixels of the 1280x720 detect resolution, normalized.
            assert (found.box.x_min, found.box.y_min, found.box.x_max, found.box.y_max) == (
                pytest.approx(0.25),
                pytest.approx(0.25),
                pytest.approx(0.5),
                pytest.approx(0.75),
            )
            assert door.event.attributes["zones"] == "entrance"
            assert len(door.clip_ids) == 1  # the mapped camera only
            yard = by_camera["cam2"].event.detection
            assert (yard.label, yard.box.x_max) == ("car", pytest.approx(1.0))  # 640 wide

            # The broker goes away and comes back: the subscriber resubscribes.
            broker.stop()

            async def unsubscribed() -> bool:
                return not subscriber.subscribed.is_set()

            await wait_for(unsubscribed)
            broker.start()
            await asyncio.wait_for(subscriber.subscribed.wait(), 20)
            await publish(broker.port, frigate_event("new", "1700.5-mno", box=[0, 0, 100, 100]))

            async def three_alerts() -> bool:
                return len(await alerts()) == 3

            await wait_for(three_alerts)
    finally:
        await clipper.stop(1.0)
