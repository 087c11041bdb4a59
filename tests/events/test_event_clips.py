"""Clip requests from the events service reaching the REAL clipper over gRPC:
one clip per camera of the register, replayed on retry, requested later when
the clipper was down (also across a restart of the events service), and one
trace from SubmitEvent to CreateClip."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from opentelemetry.trace import SpanKind

from eventclip.config import Settings
from eventclip.events.clips import ClipRetryPolicy
from eventclip.retry import Backoff
from eventclip.timeutil import from_timestamp, to_timestamp, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2

from .harness import CAMERAS, Events, make_settings, refund, running

clipper_service = pytest.importorskip(
    "eventclip.clipper.service", reason="eventclip.clipper.service not there yet"
)


async def clips_of(settings: Settings, alert_id: str) -> list[clips_pb2.Clip]:
    async with grpc.aio.insecure_channel(settings.services.clipper.target) as channel:
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        listed = await stub.ListClips(clips_pb2.ListClipsRequest(alert_id=alert_id), timeout=5)
    return sorted(listed.clips, key=lambda c: CAMERAS.index(c.camera_id))


async def test_alert_requests_one_clip_per_register_camera(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            event = refund()
            first = await events.submit(event)
            assert first.alert.risk_score == 0.5
            assert len(first.clip_ids) == len(CAMERAS)
            assert list(first.alert.clip_ids) == list(first.clip_ids)
            clips = await clips_of(settings, first.alert.id)
            assert [c.id for c in clips] == list(first.clip_ids)
            occurred = from_timestamp(event.occurred_at)
            for camera, clip in zip(CAMERAS, clips, strict=True):
                assert (clip.camera_id, clip.event_id) == (camera, event.event_id)
                assert from_timestamp(clip.event_time) == occurred
                assert from_timestamp(clip.start_time) == occurred - timedelta(seconds=1)
                assert from_timestamp(clip.end_time) == occurred + timedelta(seconds=1)
            retry = await events.submit(event)
            assert retry.replayed and list(retry.clip_ids) == list(first.clip_ids)
            assert len(await clips_of(settings, first.alert.id)) == len(CAMERAS)
    finally:
        await clipper.stop(1.0)


async def test_clips_are_requested_once_the_clipper_comes_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running(settings) as events:
        response = await events.submit(refund())
        assert list(response.clip_ids) == []
        clipper = await clipper_service.start(settings)  # on the port events already targets
        try:
            alert = await wait_for_clip_ids(events, response.alert.id)
            clips = await clips_of(settings, response.alert.id)
            assert [c.id for c in clips] == list(alert.clip_ids)
        finally:
            await clipper.stop(1.0)


async def wait_for_clip_ids(events: Events, alert_id: str) -> events_pb2.Alert:
    deadline = time.monotonic() + 15
    while True:
        alert = await events.stub.GetAlert(events_pb2.GetAlertRequest(id=alert_id), timeout=5)
        if len(alert.clip_ids) == len(CAMERAS):
            return alert
        assert time.monotonic() < deadline, f"clip ids never filled: {alert}"
        await asyncio.sleep(0.2)


async def test_clips_still_to_request_survive_a_restart_of_the_events_service(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    event = refund()
    # The clipper is down: the alert is raised with every camera pending.
    async with running(settings) as events:
        first = await events.submit(event)
        assert first.HasField("alert") and list(first.clip_ids) == []
    # Restarted on the same database; then the clipper comes up.
    async with running(settings) as events:
        clipper = await clipper_service.start(settings)
        try:
            alert = await wait_for_clip_ids(events, first.alert.id)
            clips = await clips_of(settings, first.alert.id)
            assert [c.camera_id for c in clips] == CAMERAS  # one per camera
            assert [c.id for c in clips] == list(alert.clip_ids)
            # The POS retrying the event gets its first response back (the same
            # alert) and no clip is requested twice.
            again = await events.submit(event)
            assert again.replayed and again.alert.id == first.alert.id
            await asyncio.sleep(1.0)  # a few more retry rounds (0.2-0.5 s apart)
            assert [c.id for c in await clips_of(settings, first.alert.id)] == list(alert.clip_ids)
        finally:
            await clipper.stop(1.0)


async def test_create_clip_is_in_the_submit_event_trace(tmp_path: Path, spans) -> None:
    settings = make_settings(tmp_path)
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            await events.submit(refund())
    finally:
        await clipper.stop(1.0)
    finished = spans.get_finished_spans()
    submit = next(s for s in finished if s.name.endswith("EventService/SubmitEvent"))
    create = [s for s in finished if s.name.endswith("ClipService/CreateClip")]
    assert create, [s.name for s in finished]
    assert all(s.context.trace_id == submit.context.trace_id for s in create)


async def test_the_retry_loop_leaves_alerts_with_a_request_in_flight_alone(
    tmp_path: Path, spans
) -> None:
    """The loop reads pending alerts from the database; a new alert is pending
    there from its INSERT until its inline CreateClip is recorded. Polling
    without pause, the loop would hit that window on some of these events."""
    settings = make_settings(tmp_path)
    restless = ClipRetryPolicy(Backoff(initial=0.001, maximum=0.001), idle_poll=0.001)
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings, clip_retry=restless) as events:
            for _ in range(10):
                response = await events.submit(refund())
                assert len(response.clip_ids) == len(CAMERAS)
    finally:
        await clipper.stop(1.0)
    finished = spans.get_finished_spans()
    submits = {s.context.trace_id for s in finished if s.name.endswith("EventService/SubmitEvent")}
    created = [
        s
        for s in finished
        if s.name.endswith("ClipService/CreateClip") and s.kind == SpanKind.SERVER
    ]
    assert len(submits) == 10
    # One CreateClip per camera and event, each in its SubmitEvent's trace.
    assert len(created) == 10 * len(CAMERAS)
    assert {s.context.trace_id for s in created} == submits


async def test_events_no_camera_can_cover_raise_alerts_without_clips(tmp_path: Path) -> None:
    """Older than the buffer, or dated beyond clips.max_future_seconds: the event
    is stored and alerts, the alert says why there is no clip, and nothing is
    asked of the clipper, then or later."""
    settings = make_settings(
        tmp_path,
        cameras=[
            {"id": "cam1", "source": "synthetic://", "buffer_seconds": 3600},
            {"id": "cam2", "source": "synthetic://", "buffer_seconds": 120},
        ],
    )
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            now = utcnow()
            old = await events.submit(refund(occurred_at=to_timestamp(now - timedelta(hours=2))))
            ahead = await events.submit(refund(occurred_at=to_timestamp(now + timedelta(days=2))))
            mixed = await events.submit(
                refund(occurred_at=to_timestamp(now - timedelta(minutes=10)))
            )
            for response in (old, ahead, mixed):
                assert response.alert.id and response.alert.risk_score == 0.5
            assert list(old.clip_ids) == [] and list(ahead.clip_ids) == []
            reason = old.alert.no_clip_reason
            assert reason.startswith("no clip of the event at ")
            assert "camera cam1 keeps 1 h 00 min of video" in reason
            assert "camera cam2 keeps 2 min 00 s of video" in reason
            assert "2 h 00 min old" in reason
            assert "in the future (more than clips.max_future_seconds" in ahead.alert.no_clip_reason
            assert "2 days" not in ahead.alert.no_clip_reason  # human units, from 48 h 00 min
            assert "48 h 00 min in the future" in ahead.alert.no_clip_reason
            # cam1 keeps an hour: its clip is asked for; cam2's two minutes are long gone.
            assert len(mixed.clip_ids) == 1
            assert "cam1" not in mixed.alert.no_clip_reason
            assert "10 min 00 s old and camera cam2 keeps 2 min 00 s" in mixed.alert.no_clip_reason
            clips = await clips_of(settings, mixed.alert.id)
            assert [c.camera_id for c in clips] == ["cam1"]
            await asyncio.sleep(1.5)  # the retry loop (idle poll 1 s) asks nothing more
            for response in (old, ahead):
                assert await clips_of(settings, response.alert.id) == []
                alert = await events.stub.GetAlert(
                    events_pb2.GetAlertRequest(id=response.alert.id), timeout=5
                )
                assert alert.no_clip_reason == response.alert.no_clip_reason
                assert list(alert.clip_ids) == []
    finally:
        await clipper.stop(1.0)


async def test_a_registers_clock_offset_moves_the_clip_window(tmp_path: Path) -> None:
    """A register whose clock runs 90 s ahead of the cameras: its event at
    12:01:30 on the POS clock is on video at 12:00:00."""
    settings = make_settings(
        tmp_path, registers=[{"id": "till-1", "cameras": CAMERAS, "clock_offset_seconds": 90}]
    )
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            event = refund()
            response = await events.submit(event)
            on_video = from_timestamp(event.occurred_at) - timedelta(seconds=90)
            assert from_timestamp(response.alert.occurred_at) == on_video
            assert response.alert.event.occurred_at == event.occurred_at  # as sent
            for clip in await clips_of(settings, response.alert.id):
                assert from_timestamp(clip.event_time) == on_video
                assert from_timestamp(clip.start_time) == on_video - timedelta(seconds=1)
    finally:
        await clipper.stop(1.0)


async def test_related_events_a_rule_names_widen_the_clip_window(tmp_path: Path) -> None:
    """refund_frequency names the operator's earlier refunds: the alert's clips
    start the configured pre-roll before the first of them."""
    settings = make_settings(
        tmp_path,
        plugins=["refund_frequency"],
        rules={"refund_frequency": {"max_count": 3, "window_seconds": 600}},
    )
    clipper = await clipper_service.start(settings)
    try:
        async with running(settings) as events:
            now = utcnow()
            first, second, third = (
                refund(event_id=f"rf-{n}", occurred_at=to_timestamp(now - timedelta(seconds=s)))
                for n, s in ((1, 20), (2, 10), (3, 0.5))
            )
            assert not (await events.submit(first)).HasField("alert")
            assert not (await events.submit(second)).HasField("alert")
            response = await events.submit(third)
            alert = response.alert
            [result] = alert.reasons
            assert result.rule == "refund_frequency"
            assert set(result.related_event_ids) == {"rf-1", "rf-2"}
            earliest = from_timestamp(first.occurred_at)
            occurred = from_timestamp(third.occurred_at)
            wanted = (occurred - earliest).total_seconds() + 1  # the pre-roll before it
            assert alert.pre_roll.ToTimedelta().total_seconds() == pytest.approx(wanted, abs=1e-3)
            for clip in await clips_of(settings, alert.id):
                assert from_timestamp(clip.start_time) == earliest - timedelta(seconds=1)
                assert from_timestamp(clip.end_time) == occurred + timedelta(seconds=1)
            stored = await events.stub.GetAlert(events_pb2.GetAlertRequest(id=alert.id))
            assert stored.pre_roll == alert.pre_roll
            assert list(stored.reasons[0].related_event_ids) == list(result.related_event_ids)
    finally:
        await clipper.stop(1.0)
