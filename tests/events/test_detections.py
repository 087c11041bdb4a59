"""Detections as events, through the REAL events service and clipper over
gRPC: scored by the built-in detection_confidence rule, an alert asks for a
clip of the detecting camera only around the onset, one incident gives one
alert, and bad detections are refused naming the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from eventclip.timeutil import from_timestamp, to_timestamp, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2

from .harness import BUILTIN_RULES, make_settings, running, status_of

clipper_service = pytest.importorskip("eventclip.clipper.service")

RULES = [*BUILTIN_RULES, "detection_confidence"]


def detection(
    event_id: str,
    *,
    camera: str = "cam2",
    label: str = "spill",
    confidence: float = 0.8,
    box: tuple[float, float, float, float] = (0.4, 0.7, 0.55, 0.85),
    seconds_ago: float = 2.0,
) -> events_pb2.SubmitDetectionRequest:
    return events_pb2.SubmitDetectionRequest(
        event_id=event_id,
        store_id="s1",
        detection=events_pb2.Detection(
            camera_id=camera,
            label=label,
            confidence=confidence,
            box=events_pb2.BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3]),
            detector="yolo-floor",
        ),
        onset_time=to_timestamp(utcnow() - timedelta(seconds=seconds_ago)),
        attributes={"track": "17"},
    )


async def test_a_detection_alerts_with_a_clip_of_its_camera_once_per_incident(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        plugins=RULES,
        rules={"detection_confidence": {"labels": {"person": None}}},
    )
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            sent = detection("d-1")
            first = await events.stub.SubmitDetection(sent, timeout=10)
            assert first.alert.id and not first.duplicate_of
            (result,) = first.assessment.results
            assert (result.rule, result.score) == ("detection_confidence", pytest.approx(0.8))
            assert "spill on camera cam2" in result.reason
            assert first.event.type == events_pb2.PosEvent.DETECTION
            (clip_id,) = first.clip_ids  # the detecting camera only, not the register's two
            async with grpc.aio.insecure_channel(settings.services.clipper.target) as channel:
                clip = await clips_pb2_grpc.ClipServiceStub(channel).GetClip(
                    clips_pb2.GetClipRequest(id=clip_id), timeout=5
                )
            assert clip.camera_id == "cam2"
            assert from_timestamp(clip.event_time) == from_timestamp(first.event.occurred_at)

            retry = await events.stub.SubmitDetection(sent, timeout=10)
            assert retry.replayed and retry.alert.id == first.alert.id

            # The same spill seen again, its box shifted a little: the same incident.
            again = await events.stub.SubmitDetection(
                detection("d-2", box=(0.42, 0.71, 0.56, 0.86), seconds_ago=1), timeout=10
            )
            assert again.duplicate_of == first.alert.id
            assert not again.alert.id and list(again.clip_ids) == []
            # Elsewhere in the picture, or another label: new incidents.
            elsewhere = await events.stub.SubmitDetection(
                detection("d-3", box=(0.0, 0.0, 0.1, 0.1)), timeout=10
            )
            other = await events.stub.SubmitDetection(detection("d-4", label="smoke"), timeout=10)
            assert elsewhere.alert.id and other.alert.id
            assert len({first.alert.id, elsewhere.alert.id, other.alert.id}) == 3
            # Below the confidence, or a label mapped to nothing: scored 0, no alert.
            weak = await events.stub.SubmitDetection(
                detection("d-5", confidence=0.3, box=(0.8, 0.0, 0.9, 0.1)), timeout=10
            )
            person = await events.stub.SubmitDetection(
                detection("d-6", label="person", confidence=0.99), timeout=10
            )
            assert not weak.alert.id and not person.alert.id
            assert list(weak.assessment.results) == list(person.assessment.results) == []

            stored = await events.stub.GetAlert(
                events_pb2.GetAlertRequest(id=first.alert.id), timeout=5
            )
            assert stored.event.detection == sent.detection
            assert stored.event.attributes["track"] == "17"
    finally:
        await clipper.stop(1.0)


async def test_bad_detections_are_refused_naming_the_field(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=RULES)
    async with running(settings) as events:
        cases = [
            (detection("b-1", camera="nope"), grpc.StatusCode.NOT_FOUND, "camera nope"),
            (
                detection("b-2", confidence=1.5),
                grpc.StatusCode.INVALID_ARGUMENT,
                "event.detection.confidence must be in [0, 1]",
            ),
            (
                detection("b-3", box=(0.5, 0.5, 0.4, 0.6)),
                grpc.StatusCode.INVALID_ARGUMENT,
                "event.detection.box must hold",
            ),
            (detection("b-4", label=""), grpc.StatusCode.INVALID_ARGUMENT, "label is required"),
            (detection(""), grpc.StatusCode.INVALID_ARGUMENT, "event_id is required"),
        ]
        for request, code, text in cases:
            got_code, message = await status_of(events.stub.SubmitDetection(request, timeout=5))
            assert got_code == code and text in message, message
        no_onset = detection("b-5")
        no_onset.ClearField("onset_time")
        assert await status_of(events.stub.SubmitDetection(no_onset, timeout=5)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "onset_time is required (when the thing began)",
        )
        # A POS event may not carry a detection, nor a DETECTION go without one.
        for event in (
            events_pb2.PosEvent(
                event_id="b-6",
                type=events_pb2.PosEvent.DETECTION,
                occurred_at=to_timestamp(utcnow()),
            ),
        ):
            code, message = await status_of(
                events.stub.SubmitEvent(events_pb2.SubmitEventRequest(event=event), timeout=5)
            )
            assert code == grpc.StatusCode.INVALID_ARGUMENT
            assert "event.detection is required for a DETECTION event" in message


async def test_an_incident_stays_one_alert_across_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, plugins=RULES)
    async with running(settings) as events:
        first = await events.stub.SubmitDetection(detection("r-1", seconds_ago=5), timeout=10)
        again = await events.stub.SubmitDetection(detection("r-2", seconds_ago=4), timeout=10)
        assert first.alert.id and again.duplicate_of == first.alert.id
    async with running(settings) as events:  # the same database, a new process state
        later = await events.stub.SubmitDetection(
            detection("r-3", box=(0.41, 0.7, 0.56, 0.86), seconds_ago=1), timeout=10
        )
        assert later.duplicate_of == first.alert.id and not later.alert.id
        elsewhere = await events.stub.SubmitDetection(
            detection("r-4", box=(0.0, 0.0, 0.1, 0.1)), timeout=10
        )
        assert elsewhere.alert.id and not elsewhere.duplicate_of
