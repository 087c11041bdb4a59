"""Detector plugins at work: per camera, frames from the buffer's SampleFrames
go to every detector configured for it (``cameras[].detectors``).

One loop per camera reads the stream as fast as it comes and keeps only the
newest frame; the detectors take the newest when they are done with the last,
so a slow detector skips frames instead of queueing them (the buffer skips too
when its decoding falls behind, see ``eventclip.buffer.sampling``). All the
camera's detectors see the same frame at once, each isolated by the
PluginRunner: one that raises or hangs is logged, counted and reported, the
others go on. A stream that ends (the buffer restarting, a camera offline) is
opened again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import grpc
import numpy as np
import pluggy
from pydantic import BaseModel

from eventclip.config import CameraConfig, ConfigError
from eventclip.errors import ServiceError
from eventclip.events.messages import bounding_box
from eventclip.events.plugin_options import declared_models, validated
from eventclip.events.plugins import PluginDetections, PluginRunner
from eventclip.events.types import Frame
from eventclip.retry import Backoff
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc, events_pb2

log = logging.getLogger(__name__)

#: What a camera's loop hands on: the camera, the frame looked at, the result.
DetectionsHandler = Callable[[str, Frame, PluginDetections], Awaitable[None]]


def detector_options(
    pm: pluggy.PluginManager, cameras: Sequence[CameraConfig]
) -> dict[str, dict[str, BaseModel]]:
    """Each camera's detectors with their options validated by the plugin's
    ``detector_options`` model: {camera id: {plugin name: options}}, cameras
    without detectors left out. Raises ConfigError naming the camera and the
    key: an unknown detector (not loaded, or not implementing ``detect``), or
    options its model refuses."""
    detecting = {i.plugin_name for i in pm.hook.detect.get_hookimpls()}
    models = declared_models(pm.hook.detector_options, "detector_options")
    chosen: dict[str, dict[str, BaseModel]] = {}
    for camera in cameras:
        for name, raw in camera.detectors.items():
            where = f"cameras[id={camera.id}].detectors.{name}"
            if name not in detecting:
                known = ", ".join(sorted(detecting)) or "none loaded"
                raise ConfigError(f"{where}: unknown detector; known detectors: {known}")
            model = models.get(name)
            if model is None:
                raise ConfigError(f"{where}: the plugin declares no detector_options model")
            chosen.setdefault(camera.id, {})[name] = validated(model, raw, where)
    return chosen


def frame_of(message: buffer_pb2.Frame) -> Frame:
    """A buffer Frame message as the plugins' read-only Frame."""
    image = np.frombuffer(message.rgb, np.uint8).reshape(message.height, message.width, 3)
    return Frame(
        camera_id=message.camera_id,
        time=message.frame_time.ToDatetime(UTC),
        image=image,  # read-only: a view of the message's bytes
        source_width=message.source_width,
        source_height=message.source_height,
        keyframe=message.keyframe,
    )


@dataclass
class CameraDetectors:
    """The detector loop of one camera (see the module)."""

    camera: CameraConfig
    options: Mapping[str, BaseModel]
    buffer: buffer_pb2_grpc.BufferServiceStub
    runner: PluginRunner
    on_detections: DetectionsHandler
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, maximum=10.0))
    #: Frames read from the buffer, and those replaced before a detector saw them.
    frames_read: int = 0
    frames_skipped: int = 0
    frames_detected: int = 0
    _newest: Frame | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Until cancelled: read frames (reconnecting with backoff), detect on the newest."""
        worker = asyncio.create_task(self._detect_forever(), name=f"detect-{self.camera.id}")
        try:
            attempt = 0
            while True:
                read_before = self.frames_read
                try:
                    await self._read_stream()
                    why = "the stream ended"
                except grpc.aio.AioRpcError as err:
                    why = f"{err.code().name}: {err.details()}"
                # Backoff grows only while streams deliver nothing.
                attempt = 1 if self.frames_read > read_before else attempt + 1
                delay = self.backoff.delay(attempt)
                log.warning(
                    "camera %s: frames for detectors stopped (%s); again in %.1f s",
                    self.camera.id,
                    why,
                    delay,
                )
                await asyncio.sleep(delay)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _read_stream(self) -> None:
        request = buffer_pb2.SampleFramesRequest(
            camera_id=self.camera.id,
            fps=self.camera.detect_fps,
            max_width=self.camera.detect_max_width,
        )
        call = self.buffer.SampleFrames(request)
        try:
            async for message in call:
                if self._newest is not None:
                    self.frames_skipped += 1
                self._newest = frame_of(message)
                self.frames_read += 1
                self._arrived.set()
        finally:
            call.cancel()

    async def _detect_forever(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            frame, self._newest = self._newest, None
            if frame is None:
                continue
            result = await self.runner.detect(frame, self.options)
            self.frames_detected += 1
            try:
                await self.on_detections(self.camera.id, frame, result)
            except Exception:  # the handler's trouble must not stop detection
                log.exception("camera %s: handling detections failed", self.camera.id)


class Detectors:
    """Every camera's detector loop, started and stopped together."""

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        options: Mapping[str, Mapping[str, BaseModel]],
        channel: grpc.aio.Channel,
        runner: PluginRunner,
        on_detections: DetectionsHandler,
    ) -> None:
        """``channel``: to the buffer (closed by ``stop``)."""
        self.channel = channel
        buffer = buffer_pb2_grpc.BufferServiceStub(channel)
        self.cameras = {
            c.id: CameraDetectors(c, options[c.id], buffer, runner, on_detections)
            for c in cameras
            if options.get(c.id)
        }
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(loop.run(), name=f"detectors-{camera_id}")
            for camera_id, loop in self.cameras.items()
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.channel.close()


class DetectionSubmitter:
    """Hands what the built-in detectors find to the events service as
    DETECTION events (``processor.submit_detection``, as SubmitDetection
    would): scored, deduplicated into incidents, alerted and clipped like any
    other. The event id is derived from camera, detector, label and onset, so
    the same onset reported on every frame is one event, replayed."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    async def __call__(self, camera_id: str, frame: Frame, result: PluginDetections) -> None:
        for plugin, found in result.detections:
            onset = found.onset or frame.time
            millis = round(onset.timestamp() * 1000)
            request = events_pb2.SubmitDetectionRequest(
                event_id=f"det-{camera_id}-{plugin}-{found.label}-{millis}"[:128],
                detection=events_pb2.Detection(
                    camera_id=camera_id,
                    label=found.label,
                    confidence=found.confidence,
                    box=bounding_box(found.box),
                    detector=plugin,
                ),
                onset_time=to_timestamp(onset),
                attributes=dict(found.attributes),
            )
            try:
                response = await self.processor.submit_detection(request)
            except ServiceError as err:  # a label or attribute the event cannot hold
                log.warning("camera %s: detection by %s refused: %s", camera_id, plugin, err)
                continue
            if response.alert.id and not response.replayed:
                log.info(
                    "camera %s: %s found %s (confidence %.2f): alert %s",
                    camera_id,
                    plugin,
                    found.label,
                    found.confidence,
                    response.alert.id,
                )
