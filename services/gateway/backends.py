"""The gateway's gRPC clients: one channel and stub per backend service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eventclip.config import Settings
from eventclip.rpc import open_channel
from eventclip.v1 import buffer_pb2_grpc, clips_pb2_grpc, events_pb2_grpc

#: Deadline of unary calls to a backend, seconds. SubmitEvent is the slowest:
#: plugins (bounded by plugin_timeout_seconds) plus one CreateClip per camera.
UNARY_TIMEOUT_SECONDS = 15.0

#: Deadline of one health check, seconds: a probe must answer quickly.
HEALTH_TIMEOUT_SECONDS = 1.0

#: Backend name (as in settings.services) -> fully-qualified gRPC service name
#: whose grpc.health.v1 status counts.
SERVICE_NAMES = {
    "buffer": "eventclip.v1.BufferService",
    "events": "eventclip.v1.EventService",
    "clipper": "eventclip.v1.ClipService",
}


@dataclass
class Backends:
    """Stubs to the three backends; create inside the running event loop."""

    targets: dict[str, str]
    channels: dict[str, grpc.aio.Channel]
    buffer: buffer_pb2_grpc.BufferServiceStub
    events: events_pb2_grpc.EventServiceStub
    clips: clips_pb2_grpc.ClipServiceStub

    @classmethod
    def open(cls, settings: Settings) -> Backends:
        """Open a channel to each backend's ``settings.services.<name>.target``.
        Channels connect lazily, so this succeeds while a backend is down."""
        targets = {name: getattr(settings.services, name).target for name in SERVICE_NAMES}
        channels = {
            name: open_channel(target, tls=settings.tls, forward_caller=True)
            for name, target in targets.items()
        }
        return cls(
            targets=targets,
            channels=channels,
            buffer=buffer_pb2_grpc.BufferServiceStub(channels["buffer"]),
            events=events_pb2_grpc.EventServiceStub(channels["events"]),
            clips=clips_pb2_grpc.ClipServiceStub(channels["clipper"]),
        )

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.channels.values()))

    async def health(self) -> dict[str, str]:
        """grpc.health.v1 status of each backend's service, checked concurrently:
        name -> "SERVING", "NOT_SERVING", ... or "UNAVAILABLE: <why>" when the
        check itself failed (down, timed out after HEALTH_TIMEOUT_SECONDS)."""

        async def check(name: str) -> str:
            stub = health_pb2_grpc.HealthStub(self.channels[name])
            request = health_pb2.HealthCheckRequest(service=SERVICE_NAMES[name])
            try:
                reply = await stub.Check(request, timeout=HEALTH_TIMEOUT_SECONDS)
            except grpc.aio.AioRpcError as err:
                return f"{err.code().name}: {err.details()} ({self.targets[name]})"
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        names = list(SERVICE_NAMES)
        statuses = await asyncio.gather(*(check(name) for name in names))
        return dict(zip(names, statuses, strict=True))
