"""Detections from Frigate: many sites already run Frigate for object
detection; its tracked objects become DETECTION events here.

Frigate publishes a JSON message on ``<topic_prefix>/events`` for each change
of a tracked object (https://docs.frigate.video/integrations/mqtt/):
``{"type": "new" | "update" | "end", "before": {...}, "after": {...}}``,
where ``after`` holds ``id``, ``camera``, ``label``, ``score``,
``top_score``, ``start_time`` (seconds since the epoch), ``false_positive``
and ``box`` ([x_min, y_min, x_max, y_max] in pixels of the camera's detect
resolution). One tracked object is one incident: its first true-positive
message (``new``, or an ``update`` of an object not seen yet, after a
restart) is submitted as SubmitDetection would, with the event id
``frigate-<id>`` and the onset ``start_time``; later messages of the same
object add nothing. Objects of cameras not mapped in ``frigate.cameras``,
false positives and objects under ``min_score`` are ignored; a message that
is not Frigate's JSON is logged and dropped. The subscriber reconnects with
backoff when the broker goes away.
"""

from __future__ import annotations

import collections
import json
import logging
from typing import Any

import aiomqtt

from eventclip.config import FrigateConfig
from eventclip.errors import AlreadyExists, ServiceError
from eventclip.events.messages import bounding_box
from eventclip.mqtt import MqttSubscription
from eventclip.retry import Backoff
from eventclip.timeutil import to_timestamp
from eventclip.v1 import events_pb2

log = logging.getLogger(__name__)

#: Tracked object ids remembered (their later messages are skipped).
SEEN_IDS = 10_000


class FrigateSubscriber:
    """Subscribes to Frigate's events and submits them through ``processor``
    (the events service's EventProcessor)."""

    def __init__(
        self,
        config: FrigateConfig,
        processor: Any,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.processor = processor
        self.topic = f"{config.topic_prefix}/events"
        self.subscription = MqttSubscription(
            config.mqtt_url, [self.topic], self._on_message, "frigate", backoff=backoff
        )
        #: Set while subscribed (tests and health wait on it).
        self.subscribed = self.subscription.subscribed
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def run(self) -> None:
        """Until cancelled: subscribe, submit, and reconnect when the broker is gone."""
        await self.subscription.run()

    async def _on_message(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        await self.handle(bytes(message.payload or b""))

    async def handle(self, payload: bytes) -> events_pb2.SubmitEventResponse | None:
        """Submit one Frigate message's object when it is a new one worth it;
        None when it is skipped (see the module)."""
        try:
            message = json.loads(payload)
            kind, after = message["type"], message["after"]
            object_id, frigate_camera = str(after["id"]), str(after["camera"])
        except (ValueError, TypeError, KeyError) as err:
            log.warning("frigate: not a Frigate event message (%r): %.200r", err, payload)
            return None
        if kind not in ("new", "update") or after.get("false_positive"):
            return None
        camera = self.config.camera(frigate_camera)
        if camera is None or object_id in self._seen:
            return None
        try:
            request = self._request(object_id, camera.camera, camera.width, camera.height, after)
        except (ValueError, TypeError, KeyError) as err:
            log.warning("frigate: object %s of %s unreadable: %r", object_id, frigate_camera, err)
            return None
        if request is None:
            return None
        self._remember(object_id)
        try:
            return await self.processor.submit_detection(request)
        except AlreadyExists:  # seen before a restart: its event is stored already
            return None
        except ServiceError as err:
            log.warning("frigate: object %s refused: %s", object_id, err)
            return None

    def _request(
        self, object_id: str, camera_id: str, width: int, height: int, after: dict[str, Any]
    ) -> events_pb2.SubmitDetectionRequest | None:
        score = float(after.get("top_score") or after.get("score") or 0.0)
        if score < self.config.min_score:
            return None
        x_min, y_min, x_max, y_max = (float(v) for v in after["box"])
        # Pixels of the detect resolution -> normalized, inside the picture.
        corners = [
            min(1.0, max(0.0, value / size))
            for value, size in ((x_min, width), (y_min, height), (x_max, width), (y_max, height))
        ]

        zones = after.get("current_zones") or []
        return events_pb2.SubmitDetectionRequest(
            event_id=f"frigate-{object_id}"[:128],
            detection=events_pb2.Detection(
                camera_id=camera_id,
                label=str(after["label"]),
                confidence=min(1.0, max(0.0, score)),
                box=bounding_box(corners),
                detector="frigate",
            ),
            onset_time=to_timestamp(float(after["start_time"])),
            attributes={
                "frigate_id": object_id,
                **({"zones": ",".join(map(str, zones))} if zones else {}),
            },
        )

    def _remember(self, object_id: str) -> None:
        self._seen[object_id] = None
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
