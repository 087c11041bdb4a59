"""The real buffer, clipper and events services started in this process on
loopback gRPC, with stubs to them and waits for the camera and the clips."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
from google.type.money_pb2 import Money

from eventclip.app import start_services, stop_services
from eventclip.config import Settings
from eventclip.rpc import RunningService
from eventclip.timeutil import duration_seconds, to_timestamp, utcnow
from eventclip.v1 import (
    buffer_pb2,
    buffer_pb2_grpc,
    clips_pb2,
    clips_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
)

NAMES = ("buffer", "clipper", "events")


@dataclass
class Backends:
    services: dict[str, RunningService]
    buffer: buffer_pb2_grpc.BufferServiceStub
    clips: clips_pb2_grpc.ClipServiceStub
    events: events_pb2_grpc.EventServiceStub

    async def wait_buffered(self, camera_ids: Iterable[str], seconds: float) -> None:
        """Return once every camera's ring holds ``seconds`` of video (fails after 20 s)."""
        deadline = time.monotonic() + 20
        for camera_id in camera_ids:
            while True:
                camera = await self.buffer.GetCamera(buffer_pb2.GetCameraRequest(id=camera_id))
                if duration_seconds(camera.buffered_duration) >= seconds:
                    break
                assert time.monotonic() < deadline, f"{camera_id} never buffered {seconds} s"
                await asyncio.sleep(0.2)

    async def finished(self, clip_id: str) -> clips_pb2.Clip:
        """The clip once it is no longer PENDING or RECORDING (fails after 20 s)."""
        return await wait_finished(self.clips, clip_id)


async def wait_finished(
    stub: clips_pb2_grpc.ClipServiceStub, clip_id: str, within: float = 20.0
) -> clips_pb2.Clip:
    """The clip once it is no longer PENDING or RECORDING (fails after ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id), timeout=5)
        if clip.state not in (clips_pb2.Clip.PENDING, clips_pb2.Clip.RECORDING):
            return clip
        assert time.monotonic() < deadline, f"clip {clip_id} never finished: {clip}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_backends(settings: Settings) -> AsyncIterator[Backends]:
    """Buffer, clipper and events on the ports in ``settings``, stopped afterwards."""
    started = await start_services(settings, NAMES)
    channels = [grpc.aio.insecure_channel(getattr(settings.services, n).target) for n in NAMES]
    try:
        yield Backends(
            {s.name: s for s in started},
            buffer_pb2_grpc.BufferServiceStub(channels[0]),
            clips_pb2_grpc.ClipServiceStub(channels[1]),
            events_pb2_grpc.EventServiceStub(channels[2]),
        )
    finally:
        for channel in channels:
            await channel.close()
        await stop_services(started, grace=1)


def refund(register_id: str, **fields: Any) -> events_pb2.PosEvent:
    """An unapproved USD 500 refund at ``register_id`` half a second ago."""
    values: dict[str, Any] = {
        "event_id": f"pos-{time.monotonic_ns()}",
        "type": events_pb2.PosEvent.REFUND,
        "store_id": "s1",
        "register_id": register_id,
        "operator_id": "op-7",
        "amount": Money(currency_code="USD", units=500),
        "transaction_id": "tx-1",
        "occurred_at": to_timestamp(utcnow() - timedelta(seconds=0.5)),
    }
    values.update(fields)
    return events_pb2.PosEvent(**values)
