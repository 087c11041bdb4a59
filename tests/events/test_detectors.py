"""Detector plugins fed by the REAL buffer over gRPC: frames of a synthetic
H.264 camera reach every detector configured for it, with options validated
by each plugin's model; one that raises or hangs is isolated and counted, a
slow one skips frames instead of queueing them; what they find becomes one
alert per incident with a READY clip from the REAL clipper."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from backends import wait_finished
from conftest import free_port
from pydantic import BaseModel, Field

from eventclip import hookimpl
from eventclip.buffer.service import start as start_buffer
from eventclip.clipper.service import start as start_clipper
from eventclip.config import ConfigError, load_settings
from eventclip.events.detectors import detector_options
from eventclip.events.plugins import PluginDetections, create_plugin_manager
from eventclip.events.service import start as start_events
from eventclip.events.types import Detection, Frame
from eventclip.plugins import detection_confidence
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2, events_pb2_grpc

CAMERA = "cam"


class BrightOptions(BaseModel):
    label: str = "bright"
    #: Mean brightness (0-255) at or over which the frame counts.
    min_mean: float = Field(0.0, ge=0, le=255)


class Bright:
    """Reports the frame's mean brightness, and checks what a detector is given."""

    @hookimpl
    def detector_options(self) -> type[BaseModel]:
        return BrightOptions

    @hookimpl
    def detect(self, frame: Frame, options: BrightOptions) -> list[Detection]:
        assert not frame.image.flags.writeable  # plugins cannot change the frame
        mean = float(frame.image.mean())
        if mean < options.min_mean:
            return []
        return [Detection(options.label, mean / 255, (0.0, 0.0, 1.0, 1.0), attributes={"n": "1"})]


class NoOptions(BaseModel):
    pass


class Crashes:
    @hookimpl
    def detector_options(self) -> type[BaseModel]:
        return NoOptions

    @hookimpl
    def detect(self, frame: Frame, options: BaseModel) -> list[Detection]:
        raise RuntimeError("detector bug")


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def detector_options(self) -> type[BaseModel]:
        return NoOptions

    @hookimpl
    def detect(self, frame: Frame, options: BaseModel) -> list[Detection]:
        self.release.wait(30)
        return []


class Slow:
    @hookimpl
    def detector_options(self) -> type[BaseModel]:
        return NoOptions

    @hookimpl
    def detect(self, frame: Frame, options: BaseModel) -> list[Detection]:
        time.sleep(0.35)  # under the 0.5 s timeout
        return [Detection("slow", 0.5, (0.1, 0.1, 0.2, 0.2))]


@dataclass
class Seen:
    results: list[tuple[str, Frame, PluginDetections]] = field(default_factory=list)

    async def __call__(self, camera_id: str, frame: Frame, result: PluginDetections) -> None:
        self.results.append((camera_id, frame, result))


def plugin_manager(**plugins: object):  # type: ignore[no-untyped-def]
    pm = create_plugin_manager([])
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return pm


def settings_for(tmp_path: Path, detectors: dict, detect_fps: float = 2.0):  # type: ignore[no-untyped-def]
    return load_settings(
        data_dir=tmp_path,
        cameras=[
            {
                "id": CAMERA,
                "source": "synthetic://320x180@15?gop=15",
                "detectors": detectors,
                "detect_fps": detect_fps,
            }
        ],
        registers=[],
        plugins=[],
        plugin_timeout_seconds=0.5,
        services={"buffer": {"port": free_port()}, "events": {"port": 0}},
    )


@pytest_asyncio.fixture
async def buffer_for(tmp_path: Path) -> AsyncIterator:  # type: ignore[type-arg]
    started = []

    async def start(settings):  # type: ignore[no-untyped-def]
        service = await start_buffer(settings)
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop(1.0)


async def wait_until(check, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_frames_reach_the_detectors_and_bad_ones_are_isolated(
    tmp_path: Path, buffer_for
) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        tmp_path,
        {"bright": {"label": "lit", "min_mean": 1}, "crashes": {}, "hangs": {}},
    )
    hangs = Hangs()
    pm = plugin_manager(bright=Bright(), crashes=Crashes(), hangs=hangs, idle=Bright())
    seen = Seen()
    await buffer_for(settings)
    events = await start_events(settings, plugin_manager=pm, on_detections=seen)
    try:
        await wait_until(lambda: len(seen.results) >= 6)
    finally:
        await events.stop(1.0)
        hangs.release.set()
    frames = [frame for _, frame, _ in seen.results]
    assert {camera for camera, _, _ in seen.results} == {CAMERA}
    assert all(f.image.shape == (180, 320, 3) for f in frames)
    assert all((f.source_width, f.source_height) == (320, 180) for f in frames)
    times = [f.time.timestamp() for f in frames]
    assert times == sorted(times) and times[-1] - times[0] >= 2.0
    for _, _, result in seen.results:
        # Only the detectors configured for the camera ran ("idle" is loaded, not configured).
        assert [(plugin, d.label) for plugin, d in result.detections] == [("bright", "lit")]
        assert 0 < result.detections[0][1].confidence <= 1
        failed = {f.plugin: f.error for f in result.failures}
        assert "raised RuntimeError('detector bug')" in failed["crashes"]
        assert failed["hangs"].startswith(("timed out after 0.5 s", "skipped:"))
    assert events.processor.runner.failure_counts["crashes"] == len(seen.results)


async def test_a_slow_detector_skips_frames(tmp_path: Path, buffer_for) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, {"slow": {}}, detect_fps=10)
    seen = Seen()
    await buffer_for(settings)
    events = await start_events(
        settings, plugin_manager=plugin_manager(slow=Slow()), on_detections=seen
    )
    try:
        await wait_until(lambda: len(seen.results) >= 4)
        loop = events.detectors.cameras[CAMERA]  # type: ignore[union-attr]
        read, skipped, detected = loop.frames_read, loop.frames_skipped, loop.frames_detected
    finally:
        await events.stop(1.0)
    # ~8 frames a second arrive (10 asked of a 15 fps camera), 0.35 s each to
    # look at: most are skipped, and each one looked at is the newest, not
    # the next of a queue (which would be 0.13 s after the last).
    assert skipped >= detected and read >= detected + skipped - 1
    gaps = [
        b.time.timestamp() - a.time.timestamp()
        for (_, a, _), (_, b, _) in zip(seen.results, seen.results[1:], strict=False)
    ]
    assert all(gap >= 0.2 for gap in gaps), gaps


def test_detector_options_are_checked_at_start_up() -> None:
    pm = plugin_manager(bright=Bright())
    cases = [
        (
            {"brite": {}},
            "cameras[id=cam].detectors.brite: unknown detector; known detectors: bright",
        ),
        (
            {"bright": {"min_mean": "dark"}},
            "cameras[id=cam].detectors.bright.min_mean: Input should be a valid number",
        ),
        (
            {"bright": {"min_mean": 300}},
            "cameras[id=cam].detectors.bright.min_mean: Input should be less than or equal to 255",
        ),
    ]
    for detectors, message in cases:
        settings = settings_for(Path("/nonexistent"), detectors)
        with pytest.raises(ConfigError) as caught:
            detector_options(pm, settings.cameras)
        assert message in str(caught.value)
    chosen = detector_options(pm, settings_for(Path("/x"), {"bright": {"min_mean": 7}}).cameras)
    assert chosen == {CAMERA: {"bright": BrightOptions(min_mean=7)}}


async def test_detections_become_one_alert_with_a_ready_clip(tmp_path: Path, buffer_for) -> None:  # type: ignore[no-untyped-def]
    """No handler given: what the detector finds is submitted as DETECTION
    events; reported on every frame, it is one incident, one alert, one clip."""
    settings = settings_for(tmp_path, {"bright": {"label": "lit"}})
    settings.services.clipper.port = free_port()
    settings.clips.pre_roll_seconds = settings.clips.post_roll_seconds = 1.0
    settings.rules = {"detection_confidence": {"default": {"min_confidence": 0.0}}}
    pm = plugin_manager(bright=Bright(), detection_confidence=detection_confidence)
    await buffer_for(settings)
    clipper = await start_clipper(settings)
    events = await start_events(settings, plugin_manager=pm)
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{events.port}") as events_channel,
            grpc.aio.insecure_channel(settings.services.clipper.target) as clips_channel,
        ):
            alerts = events_pb2_grpc.EventServiceStub(events_channel)
            clips = clips_pb2_grpc.ClipServiceStub(clips_channel)
            listing = events_pb2.ListAlertsRequest()

            async def alert_count() -> int:
                return len((await alerts.ListAlerts(listing, timeout=5)).alerts)

            deadline = time.monotonic() + 15
            while await alert_count() == 0:
                assert time.monotonic() < deadline, "no alert from the detector"
                await asyncio.sleep(0.2)
            loop = events.detectors.cameras[CAMERA]  # type: ignore[union-attr]
            detected_before = loop.frames_detected
            await wait_until(lambda: loop.frames_detected >= detected_before + 4)
            (alert,) = (await alerts.ListAlerts(listing, timeout=5)).alerts
            assert alert.event.type == events_pb2.PosEvent.DETECTION
            assert (alert.event.detection.camera_id, alert.event.detection.label) == (CAMERA, "lit")
            assert alert.event.detection.detector == "bright"
            (clip_id,) = alert.clip_ids
            clip = await wait_finished(clips, clip_id, within=30)
            assert clip.state == clips_pb2.Clip.READY, clip.failure_reason
            assert clip.camera_id == CAMERA
            assert clip.event_time == alert.event.occurred_at
    finally:
        await events.stop(1.0)
        await clipper.stop(1.0)
