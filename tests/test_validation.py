"""Every input validated at the edge (eventclip.validation and the REST models),
against the real services on the real PostgreSQL, which refuses NUL bytes in
text and overlong varchar values: each hand-made bad request answers
INVALID_ARGUMENT / 400 naming the field, never INTERNAL / 500 with SQL, and
nothing is stored."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from backends import Backends, refund, running_backends
from conftest import BUILTIN_PLUGINS, free_port
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from eventclip.config import load_settings
from eventclip.errors import InvalidArgument
from eventclip.gateway.service import start as start_gateway
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2
from eventclip.validation import MAX_ID_CHARS, check_request

YEAR_9999 = Timestamp(seconds=253402214400)  # 9999-12-31
YEAR_1 = Timestamp(seconds=-62135596800)  # 0001-01-01
YEAR_1999 = Timestamp(seconds=946684799)  # 1999-12-31T23:59:59Z


def test_check_request_names_the_field() -> None:
    cases = [
        (clips_pb2.CreateClipRequest(camera_id="cam\x00"), "camera_id: control characters"),
        (clips_pb2.CreateClipRequest(request_id="r" * 129), "request_id: 129 characters"),
        (clips_pb2.CreateClipRequest(event_time=YEAR_9999), "event_time: "),
        (clips_pb2.CreateClipRequest(pre_roll=Duration(seconds=-1)), "pre_roll: -1 s"),
        (
            events_pb2.SubmitEventRequest(event=events_pb2.PosEvent(attributes={"note": "a\x1bb"})),
            "event.attributes['note']: control characters",
        ),
        (buffer_pb2.Camera(fps=math.nan), "fps: nan is not a finite number"),
    ]
    for message, expected in cases:
        with pytest.raises(InvalidArgument) as caught:
            check_request(message)
        assert expected in str(caught.value), (message, caught.value)
    # What is allowed: tabs and line breaks in text, ids up to the column's length.
    check_request(
        events_pb2.SubmitEventRequest(
            event=events_pb2.PosEvent(event_id="e" * MAX_ID_CHARS, attributes={"note": "a\tb\r\nc"})
        )
    )


@pytest.fixture
async def backends(tmp_path: Path, postgres_schema: str) -> AsyncIterator[Backends]:
    settings = load_settings(
        data_dir=tmp_path,
        database_url=postgres_schema,
        cameras=[{"id": "cam", "source": "synthetic://320x180@15?gop=15"}],
        registers=[{"id": "till-1", "cameras": ["cam"]}],
        plugins=BUILTIN_PLUGINS,
        services={
            "buffer": {"port": free_port()},
            "clipper": {"port": free_port()},
            "events": {"port": free_port()},
            "gateway": {"port": 0},
        },
    )
    async with running_backends(settings) as running:
        gateway = await start_gateway(settings)
        running.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=10)  # type: ignore[attr-defined]
        try:
            yield running
        finally:
            await running.http.aclose()  # type: ignore[attr-defined]
            await gateway.stop(1)


async def invalid(call, request, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert field in caught.value.details()


async def test_bad_grpc_requests_never_reach_the_database(backends: Backends) -> None:
    ok = clips_pb2.CreateClipRequest(camera_id="cam", event_time=to_timestamp(1_800_000_000))
    for field, bad in [
        ("camera_id", {"camera_id": "cam\x00"}),
        ("event_id", {"event_id": "e\x00"}),
        ("request_id", {"request_id": "r\x00"}),
        ("request_id", {"request_id": "x" * (1 << 20)}),  # a megabyte into varchar(128)
        ("alert_id", {"alert_id": "a" * 129}),
        ("event_time", {"event_time": YEAR_9999}),
        ("event_time", {"event_time": YEAR_1}),
        ("pre_roll", {"pre_roll": Duration(seconds=-5)}),
        ("post_roll", {"post_roll": Duration(seconds=10**11)}),
    ]:
        request = clips_pb2.CreateClipRequest()
        request.CopyFrom(ok)
        for name, value in bad.items():
            if isinstance(value, str):
                setattr(request, name, value)
            else:
                getattr(request, name).CopyFrom(value)
        await invalid(backends.clips.CreateClip, request, field)
    await invalid(backends.clips.GetClip, clips_pb2.GetClipRequest(id="\x00"), "id")
    await invalid(
        backends.clips.ListClips, clips_pb2.ListClipsRequest(camera_id="c\x00"), "camera_id"
    )
    await invalid(backends.events.GetAlert, events_pb2.GetAlertRequest(id="a\x00"), "id")
    for field, event in [
        ("event.store_id", refund("till-1", store_id="s\x00")),
        ("event.operator_id", refund("till-1", operator_id="o\x00")),
        ("event.attributes", refund("till-1", attributes={"k\x00": "v"})),
        ("event.attributes", refund("till-1", attributes={"k": "v\x00"})),
        ("event.occurred_at", refund("till-1", occurred_at=YEAR_9999)),
        ("event.occurred_at", refund("till-1", occurred_at=YEAR_1999)),  # events: 2000 ..
    ]:
        await invalid(
            backends.events.SubmitEvent, events_pb2.SubmitEventRequest(event=event), field
        )
    listed = await backends.clips.ListClips(clips_pb2.ListClipsRequest())
    alerts = await backends.events.ListAlerts(events_pb2.ListAlertsRequest())
    assert not listed.clips and not alerts.alerts  # nothing stored


async def test_bad_rest_requests_answer_400_with_the_field(backends: Backends) -> None:
    http: httpx.AsyncClient = backends.http  # type: ignore[attr-defined]
    good = {"cameraId": "cam", "timestamp": "2027-01-01T00:00:00Z"}
    for body, field in [
        ({**good, "preRollSeconds": 1e300}, "preRollSeconds"),
        ({**good, "postRollSeconds": -1}, "postRollSeconds"),
        ({**good, "timestamp": "9999-12-31T00:00:00Z"}, "event_time"),
        ({**good, "timestamp": "0001-01-01T00:00:00Z"}, "event_time"),
        ({**good, "cameraId": "cam\u0000"}, "camera_id"),
    ]:
        response = await http.post("/api/v1/clips", json=body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.text
    infinite = await http.post(
        "/api/v1/clips",
        content=b'{"cameraId": "cam", "timestamp": "2027-01-01T00:00:00Z", "preRollSeconds": Infinity}',
        headers={"content-type": "application/json"},
    )
    assert infinite.status_code == 400, infinite.text
    for path in ("/api/v1/clips/%00", "/api/v1/alerts/%00"):
        response = await http.get(path)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert "SELECT" not in response.text
    assert (await http.get("/api/v1/clips")).json().get("clips", []) == []
