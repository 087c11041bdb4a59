"""The built-in hazard detector on real pictures.

The shared street recording is a montage (a cut every ~2 s, handheld), so a
fixed camera is made from one of its real frames, with sensor noise, a dark
figure walking across the floor every 8 s and the spill faded in at a known
time. On that: exactly one onset, reported after ``persist_seconds``; a
person standing, a table moved in, lights dimming: nothing. The recording
itself, cuts and all, gives nothing. End to end, the same scene encoded as a
camera gives one alert with a READY clip around the onset."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import cv2
import grpc
import numpy as np
import pytest
from backends import wait_finished
from conftest import STREET_BIKES, free_port

from eventclip.buffer.service import start as start_buffer
from eventclip.clipper.service import start as start_clipper
from eventclip.config import load_settings
from eventclip.events.service import start as start_events
from eventclip.events.types import Frame
from eventclip.plugins import hazard
from eventclip.timeutil import from_timestamp
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2, events_pb2_grpc

#: The floor: the bottom 17 % of the picture (the pavement of the last shot).
FLOOR = [(0.0, 0.83), (1.0, 0.83), (1.0, 1.0), (0.0, 1.0)]
SPILL_BOX = (0.59, 0.83, 0.82, 1.0)  # where the spill is drawn, normalized


@pytest.fixture(scope="module")
def recording() -> list[np.ndarray]:
    if not STREET_BIKES.is_file():
        pytest.fail(f"{STREET_BIKES} is missing (../shared/media, see its README)")
    with av.open(str(STREET_BIKES)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def spill_mask() -> np.ndarray:
    """An irregular dark patch on the pavement (two ellipses and a drop), soft-edged."""
    mask = np.zeros((272, 640), np.float32)
    cv2.ellipse(mask, (470, 252), (50, 12), 5, 0, 360, 1, -1)
    cv2.ellipse(mask, (430, 258), (28, 9), -10, 0, 360, 1, -1)
    cv2.circle(mask, (510, 246), 11, 1, -1)
    return cv2.GaussianBlur(mask, (9, 9), 0)[..., None]


def scene(
    still: np.ndarray,
    seconds: float,
    fps: float,
    *,
    spill_at: float | None = None,
    stand: tuple[float, float] | None = None,
    table_at: float | None = None,
    lights_at: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, RGB picture) of a fixed camera looking at ``still``."""
    rng = np.random.default_rng(7)
    spill = spill_mask()
    for n in range(int(seconds * fps)):
        t = n / fps
        img = still.astype(np.float32) + rng.normal(0, 2.0, still.shape)
        x = int((t % 8) / 8 * 700) - 30  # someone crossing, feet on the floor, head above it
        cv2.rectangle(img, (x, 60), (x + 40, 265), (40, 38, 45), -1)
        if stand is not None and stand[0] <= t < stand[1]:
            cv2.rectangle(img, (250, 40), (290, 262), (60, 50, 40), -1)
        if table_at is not None and t >= table_at:  # legs on the floor, top above it
            cv2.rectangle(img, (540, 150), (630, 165), (90, 60, 30), -1)
            cv2.rectangle(img, (545, 165), (552, 262), (90, 60, 30), -1)
            cv2.rectangle(img, (618, 165), (625, 262), (90, 60, 30), -1)
        if spill_at is not None and t >= spill_at:
            alpha = min(1.0, (t - spill_at) / 1.0) * 0.85 * spill  # fades in over 1 s
            img = img * (1 - alpha) + np.array([25, 20, 15], np.float32) * alpha
        if lights_at is not None and t >= lights_at:
            img = img * 0.5
        yield t, img.clip(0, 255).astype(np.uint8)


T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def reports(pictures, persist: float = 10.0):  # type: ignore[no-untyped-def]
    """(seconds, Detection) for every report of the detector over ``pictures``."""
    hazard._cameras.pop("floor-cam", None)
    options = hazard.HazardOptions(region=FLOOR, persist_seconds=persist)
    found = []
    for t, image in pictures:
        image.flags.writeable = False
        frame = Frame("floor-cam", T0 + timedelta(seconds=t), image, 640, 272)
        found += [(t, d) for d in hazard.detect(frame, options)]
    return found


def test_a_spill_is_reported_once_still_with_its_onset(recording: list[np.ndarray]) -> None:
    found = reports(scene(recording[241], 40, 2, spill_at=8.0))
    assert found, "the spill was not reported"
    first_at, first = found[0]
    assert 18.0 <= first_at <= 22.0  # persist_seconds (10) after it appeared
    onsets = {(d.onset - T0).total_seconds() for _, d in found if d.onset}
    assert len(onsets) == 1 and 8.0 <= onsets.pop() <= 10.0  # when it appeared, not when sure
    assert {d.label for _, d in found} == {"spill"}
    x0, y0, x1, _ = first.box
    assert SPILL_BOX[0] - 0.05 <= x0 and x1 <= SPILL_BOX[2] + 0.02 and y0 >= SPILL_BOX[1] - 0.02
    assert x1 - x0 > 0.1  # the patch, not a speck of it
    assert 0.5 <= first.confidence <= 1


@pytest.mark.parametrize(
    "kind",
    ["nothing", "a person standing still", "a table moved in", "lights dimming"],
)
def test_what_is_not_a_spill_gives_nothing(recording: list[np.ndarray], kind: str) -> None:
    changes = {
        "nothing": {},
        "a person standing still": {"stand": (5.0, 30.0)},
        "a table moved in": {"table_at": 5.0},
        "lights dimming": {"lights_at": 10.0},
    }[kind]
    assert reports(scene(recording[241], 40, 2, **changes)) == []


def test_lights_after_a_spill_do_not_make_a_second_one(recording: list[np.ndarray]) -> None:
    found = reports(scene(recording[241], 40, 2, spill_at=8.0, lights_at=25.0))
    assert found and len({d.onset for _, d in found}) == 1
    assert all(t < 25.0 for t, _ in found)  # relearnt at the change; nothing new after


def test_the_real_recording_with_its_cuts_gives_nothing(recording: list[np.ndarray]) -> None:
    pictures = ((n / 2, recording[int(n / 2 * 25) % len(recording)]) for n in range(80))
    assert reports(pictures, persist=4.0) == []


def encode_scene(path: Path, still: np.ndarray, seconds: float, spill_at: float) -> None:
    """The scene as H.264, 10 fps, a keyframe every 0.5 s (so 2 fps sampling
    decodes keyframes only)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        stream.time_base = Fraction(1, 10)
        stream.options = {
            "g": "5",
            "keyint_min": "5",
            "sc_threshold": "0",
            "preset": "ultrafast",
            "crf": "20",
        }
        for n, (_, rgb) in enumerate(scene(still, seconds, 10, spill_at=spill_at)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


async def test_a_spill_on_a_camera_gives_one_alert_with_a_clip(
    recording: list[np.ndarray], tmp_path: Path
) -> None:
    camera = tmp_path / "floor.mp4"
    encode_scene(camera, recording[241], 60, spill_at=3.0)
    settings = load_settings(
        data_dir=tmp_path / "data",
        cameras=[
            {
                "id": "floor",
                "source": f"file://{camera}",
                "detect_fps": 2,
                "detectors": {"hazard": {"region": FLOOR, "persist_seconds": 6}},
            }
        ],
        registers=[],
        plugins=["hazard", "detection_confidence"],
        clips={"pre_roll_seconds": 2, "post_roll_seconds": 2},
        services={
            "buffer": {"port": free_port()},
            "clipper": {"port": free_port()},
            "events": {"port": 0},
        },
    )
    buffer = await start_buffer(settings)
    clipper = await start_clipper(settings)
    events = await start_events(settings)
    started = time.time()
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{events.port}") as events_channel,
            grpc.aio.insecure_channel(settings.services.clipper.target) as clips_channel,
        ):
            alerts = events_pb2_grpc.EventServiceStub(events_channel)
            clips = clips_pb2_grpc.ClipServiceStub(clips_channel)
            deadline = time.monotonic() + 40
            while not (await alerts.ListAlerts(events_pb2.ListAlertsRequest(), timeout=5)).alerts:
                assert time.monotonic() < deadline, "no alert for the spill"
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # reported again on later frames: still one alert
            (alert,) = (await alerts.ListAlerts(events_pb2.ListAlertsRequest(), timeout=5)).alerts
            found = alert.event.detection
            assert (found.camera_id, found.label, found.detector) == ("floor", "spill", "hazard")
            onset = from_timestamp(alert.event.occurred_at).timestamp() - started
            assert 2.0 <= onset <= 6.0, onset  # drawn at 3 s into the recording
            (clip_id,) = alert.clip_ids
            clip = await wait_finished(clips, clip_id, within=30)
            assert clip.state == clips_pb2.Clip.READY, clip.failure_reason
            assert clip.camera_id == "floor"
            media = (from_timestamp(clip.media_start_time), from_timestamp(clip.media_end_time))
            assert media[0] <= from_timestamp(alert.event.occurred_at) <= media[1]
    finally:
        await events.stop(1.0)
        await clipper.stop(1.0)
        await buffer.stop(1.0)
