"""Milestone 1 end to end: the four services as four `eventclip serve` processes on
loopback, the real street recording as a live camera, a refund over gRPC, the clip
over REST, and the trace collected by a real OTLP/gRPC receiver."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import av
import grpc
import httpx
import pytest
import yaml
from conftest import BUILTIN_PLUGINS, free_port
from google.type import money_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from processes import Suite, wait_buffered, wait_serving

from eventclip.timeutil import from_timestamp, to_timestamp, utcnow
from eventclip.v1 import events_pb2, events_pb2_grpc

pytestmark = pytest.mark.e2e

PRE_ROLL, POST_ROLL = 4.0, 3.0
#: Longest GOP in the street recording (keyframes at 0, 0.6, 1.5, 2.7, 3.7, 4.8 s,
#: then none until the loop at 10 s).
MAX_GOP_SECONDS = 5.3
EVENTCLIP = Path(sys.executable).parent / "eventclip"


@dataclass
class Collector:
    """An OTLP/gRPC trace receiver: what a collector would be sent."""

    spans: list[tuple[str, str, bytes]] = field(default_factory=list)  # (service, span, trace id)

    def Export(self, request, context):
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                self.spans.extend((service, s.name, s.trace_id) for s in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    receiver = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(0)


@pytest.fixture
def suite(
    tmp_path: Path, street_bikes: Path, collector: tuple[Collector, int], postgres_schema: str
) -> Iterator[Suite]:
    ports = {name: free_port() for name in ("buffer", "events", "clipper", "gateway")}
    config = {
        "data_dir": str(tmp_path / "data"),
        "database_url": postgres_schema,
        "cameras": [{"id": "till-cam", "source": f"file://{street_bikes}", "buffer_seconds": 60}],
        "registers": [{"id": "till-1", "cameras": ["till-cam"]}],
        "plugins": BUILTIN_PLUGINS,
        "clips": {"pre_roll_seconds": PRE_ROLL, "post_roll_seconds": POST_ROLL},
        "services": {name: {"port": port} for name, port in ports.items()},
    }
    config_path = tmp_path / "eventclip.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector[1]}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "EVENTCLIP_LOG_FORMAT": "text",
    }
    suite = Suite(config_path, ports, env)
    for name in ("buffer", "clipper", "events", "gateway"):
        suite.start(name)
    try:
        yield suite
    finally:
        suite.stop_all()


@pytest.fixture
async def events_stub(suite: Suite) -> AsyncIterator[events_pb2_grpc.EventServiceStub]:
    async with grpc.aio.insecure_channel(suite.grpc_target("events")) as channel:
        yield events_pb2_grpc.EventServiceStub(channel)


async def test_refund_becomes_a_playable_clip(
    suite: Suite, events_stub: events_pb2_grpc.EventServiceStub, collector: tuple[Collector, int]
) -> None:
    await wait_serving(suite)
    camera = await wait_buffered(suite, "till-cam", PRE_ROLL + 1)
    assert camera.codec.codec_name == "h264"
    assert (camera.codec.width, camera.codec.height) == (640, 272)

    occurred = utcnow() - timedelta(seconds=0.5)
    event = events_pb2.PosEvent(
        event_id=f"pos-{uuid.uuid4().hex[:8]}",
        type=events_pb2.PosEvent.REFUND,
        store_id="store-9",
        register_id="till-1",
        operator_id="op-7",
        amount=money_pb2.Money(currency_code="USD", units=500),
        transaction_id="tx-1",
        occurred_at=to_timestamp(occurred),
    )
    first = await events_stub.SubmitEvent(events_pb2.SubmitEventRequest(event=event), timeout=10)
    assert first.assessment.risk_score == pytest.approx(0.5)
    assert [r.rule for r in first.assessment.results] == ["refund_without_approval"]
    assert first.alert.id and not first.replayed
    assert len(first.clip_ids) == 1
    clip_id = first.clip_ids[0]

    # A retried event (same event_id) returns the first result and creates nothing.
    retry = await events_stub.SubmitEvent(events_pb2.SubmitEventRequest(event=event), timeout=10)
    assert retry.replayed
    assert (retry.alert.id, list(retry.clip_ids)) == (first.alert.id, [clip_id])

    async with httpx.AsyncClient(base_url=suite.http, timeout=10) as http:
        alerts = (await http.get("/api/v1/alerts")).json()["alerts"]
        assert [a["id"] for a in alerts] == [first.alert.id]
        clips = (await http.get("/api/v1/clips", params={"eventId": event.event_id})).json()[
            "clips"
        ]
        assert [c["id"] for c in clips] == [clip_id]

        deadline = time.monotonic() + PRE_ROLL + POST_ROLL + 30
        while True:
            clip = (await http.get(f"/api/v1/clips/{clip_id}")).json()
            if clip["state"] in ("READY", "FAILED"):
                break
            assert time.monotonic() < deadline, f"clip stuck in {clip['state']}\n{suite.tail()}"
            await asyncio.sleep(0.5)
        assert clip["state"] == "READY", f"{clip}\n{suite.tail()}"

        video = await http.get(f"/api/v1/clips/{clip_id}/video")
        assert video.status_code == 200
        assert video.headers["content-type"] == "video/mp4"
        assert int(clip["sizeBytes"]) == len(video.content)
        part = await http.get(f"/api/v1/clips/{clip_id}/video", headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.content == video.content[100:1100]
        thumbnail = await http.get(f"/api/v1/clips/{clip_id}/thumbnail")
        assert thumbnail.headers["content-type"] == "image/jpeg"

    import hashlib

    assert hashlib.sha256(video.content).hexdigest() == clip["sha256"]

    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert frames[0].key_frame, "a clip must start on a keyframe"
        duration = float(frames[-1].pts * stream.time_base) + 1 / 25
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 272)
    # Starts at the keyframe at or before the pre-roll start: up to one GOP longer.
    assert PRE_ROLL + POST_ROLL - 0.2 <= duration <= PRE_ROLL + POST_ROLL + MAX_GOP_SECONDS
    media_start = from_timestamp(_ts(clip["mediaStartTime"]))
    media_end = from_timestamp(_ts(clip["mediaEndTime"]))
    assert media_start <= occurred - timedelta(seconds=PRE_ROLL) + timedelta(milliseconds=50)
    assert media_start <= occurred <= media_end
    assert media_end >= occurred + timedelta(seconds=POST_ROLL) - timedelta(milliseconds=100)

    with av.open(io.BytesIO(thumbnail.content)) as container:
        image = next(container.decode(video=0))
        assert (image.width, image.height) == (320, 240)

    # One refund -> alert -> clip is one trace across events, clipper and buffer.
    trace_id = next((t for s, n, t in collector[0].spans if n.endswith("SubmitEvent")), None)
    deadline = time.monotonic() + 10
    wanted = {"eventclip-events", "eventclip-clipper", "eventclip-buffer"}
    while True:
        trace_id = trace_id or next(
            (t for s, n, t in collector[0].spans if n.endswith("SubmitEvent")), None
        )
        services = {s for s, _, t in collector[0].spans if t == trace_id}
        if trace_id and wanted <= services:
            break
        assert time.monotonic() < deadline, f"trace spans only {services}: {collector[0].spans}"
        await asyncio.sleep(0.3)
    names = {n for _, n, t in collector[0].spans if t == trace_id}
    assert any(n.endswith("ReadWindow") for n in names), names

    # Graceful stop: every process exits 0 on SIGTERM.
    for process in suite.processes.values():
        process.send_signal(signal.SIGTERM)
    for name, process in suite.processes.items():
        assert process.wait(timeout=20) == 0, f"{name} did not stop cleanly\n{suite.tail()}"


def _ts(text: str):
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.FromJsonString(text)
    return ts
