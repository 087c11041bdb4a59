"""Notifications against real receivers: a webhook server of the test's own
(it checks the HMAC signature itself), the real Mosquitto on 127.0.0.1:1883,
and real buffer, clipper and events services."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from backends import refund, running_backends
from conftest import BUILTIN_PLUGINS, free_port
from google.protobuf import json_format

from eventclip.config import ConfigError, load_settings
from eventclip.v1 import clips_pb2, events_pb2

SECRET = "s3cret-for-the-test-receiver"
MQTT_URL = "mqtt://127.0.0.1:1883"


@dataclass
class Receiver:
    """An HTTP server that records each POST and answers from ``statuses``
    (then 200), after ``delay`` seconds."""

    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(found.delay)
            found.posts.append({"headers": dict(self.headers), "body": body})
            status = found.statuses.pop(0) if found.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", found.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def settings_for(tmp_path: Path, **notifications: Any) -> Any:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    return load_settings(
        data_dir=tmp_path,
        cameras=[{"id": "cam1", "source": "synthetic://320x180@15?gop=15", "buffer_seconds": 30}],
        registers=[{"id": "till-1", "cameras": ["cam1"]}],
        plugins=BUILTIN_PLUGINS,
        clips={"pre_roll_seconds": 1, "post_roll_seconds": 1},
        mqtt={"url": MQTT_URL, "topic_prefix": prefix},
        notifications=notifications,
        services={n: {"port": free_port()} for n in ("buffer", "clipper", "events")},
    )


async def eventually(condition: Any, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def webhook(receiver: Receiver, *events: str) -> dict[str, Any]:
    return {"url": receiver.url, "secret": SECRET, "events": list(events)}


async def test_an_alert_is_posted_signed_and_published(tmp_path: Path, receiver: Receiver) -> None:
    settings = settings_for(tmp_path, webhooks=[webhook(receiver, "alert")])
    assert settings.mqtt is not None
    async with (
        aiomqtt.Client("127.0.0.1", 1883) as listener,
        running_backends(settings) as backends,
    ):
        await listener.subscribe(f"{settings.mqtt.topic_prefix}/alerts/#", qos=1)
        response = await backends.events.SubmitEvent(
            events_pb2.SubmitEventRequest(event=refund("till-1")), timeout=10
        )
        async with asyncio.timeout(10):
            message = await anext(aiter(listener.messages))
        await eventually(lambda: len(receiver.posts) == 1)

    assert str(message.topic) == f"{settings.mqtt.topic_prefix}/alerts/s1"
    published = json_format.Parse(bytes(message.payload), events_pb2.Alert())
    assert published == response.alert
    [post] = receiver.posts
    body = post["body"]
    assert body == bytes(message.payload)  # the same JSON bytes everywhere
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post["headers"]["X-Eventclip-Signature"], expected)
    assert post["headers"]["X-Eventclip-Event"] == "alert"
    assert json.loads(body)["id"] == response.alert.id


async def test_a_failing_receiver_gets_the_same_delivery_again_until_it_takes_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    settings = settings_for(
        tmp_path, mqtt=False, webhooks=[webhook(receiver, "alert")], max_attempts=5
    )
    async with running_backends(settings) as backends:
        await backends.events.SubmitEvent(
            events_pb2.SubmitEventRequest(event=refund("till-1")), timeout=10
        )
        await eventually(lambda: len(receiver.posts) == 3)
        await asyncio.sleep(0.5)  # and no fourth
    assert len(receiver.posts) == 3
    deliveries = {p["headers"]["X-Eventclip-Delivery"] for p in receiver.posts}
    bodies = {p["body"] for p in receiver.posts}
    assert len(deliveries) == 1 and len(bodies) == 1


async def test_a_hanging_receiver_never_slows_event_ingestion(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.delay = 3.0
    settings = settings_for(
        tmp_path, mqtt=False, webhooks=[webhook(receiver, "alert")], timeout_seconds=10
    )
    async with running_backends(settings) as backends:
        took = []
        for _ in range(10):
            started = time.monotonic()
            response = await backends.events.SubmitEvent(
                events_pb2.SubmitEventRequest(event=refund("till-1")), timeout=10
            )
            took.append(time.monotonic() - started)
            assert response.HasField("alert")
        # Ten alerts queued behind a receiver taking 3 s each: ingestion goes on.
        assert max(took) < 1.5, took
        assert len(receiver.posts) <= 1


async def test_a_ready_clip_is_published_and_posted(tmp_path: Path, receiver: Receiver) -> None:
    settings = settings_for(tmp_path, webhooks=[webhook(receiver, "clip")])
    assert settings.mqtt is not None
    async with (
        aiomqtt.Client("127.0.0.1", 1883) as listener,
        running_backends(settings) as backends,
    ):
        await listener.subscribe(f"{settings.mqtt.topic_prefix}/clips/#", qos=1)
        await backends.wait_buffered(["cam1"], 2.0)
        response = await backends.events.SubmitEvent(
            events_pb2.SubmitEventRequest(event=refund("till-1")), timeout=10
        )
        [clip_id] = response.clip_ids
        ready = await backends.finished(clip_id)
        assert ready.state == clips_pb2.Clip.READY
        async with asyncio.timeout(10):
            message = await anext(aiter(listener.messages))
        await eventually(lambda: len(receiver.posts) == 1)
    assert str(message.topic) == f"{settings.mqtt.topic_prefix}/clips/cam1"
    published = json_format.Parse(bytes(message.payload), clips_pb2.Clip())
    assert published.id == clip_id and published.state == clips_pb2.Clip.READY
    assert published.sha256 == ready.sha256
    [post] = receiver.posts  # the alert is not this webhook's: clips only
    assert post["headers"]["X-Eventclip-Event"] == "clip"
    assert json.loads(post["body"])["id"] == clip_id


def test_webhook_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="secret"):
        load_settings(notifications={"webhooks": [{"url": "https://x.example", "secret": "short"}]})
    with pytest.raises(ConfigError, match="url"):
        load_settings(notifications={"webhooks": [{"url": "ftp://x", "secret": SECRET}]})
    with pytest.raises(ConfigError, match="events"):
        load_settings(
            notifications={
                "webhooks": [{"url": "https://x.example", "secret": SECRET, "events": ["x"]}]
            }
        )
