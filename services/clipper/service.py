"""The clipper service: ClipService over gRPC, clip jobs in the background.

``Clipper`` holds the request logic (validation, idempotency, listing, media
reads) and works without gRPC; ``ClipServicer`` only passes messages through;
``start(settings)`` wires the database, storage, buffer channel and job runner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
from opentelemetry import propagate

from eventclip import pagination
from eventclip.clipper import messages
from eventclip.clipper.jobs import ClipJobRunner
from eventclip.clipper.models import READY, ClipRecord
from eventclip.clipper.storage import CHUNK_BYTES, ClipStorage, LocalStorage
from eventclip.clipper.store import ClipStore, new_clip_id
from eventclip.config import Settings
from eventclip.errors import FailedPrecondition, InvalidArgument, NotFound, OutOfRange
from eventclip.pagination import PageCursor
from eventclip.rpc import Registration, grpc_method, open_channel, start_server
from eventclip.timeutil import duration_seconds, from_timestamp, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    clips_pb2.ReadClipMediaRequest.Kind.VIDEO: "video/mp4",
    clips_pb2.ReadClipMediaRequest.Kind.THUMBNAIL: "image/jpeg",
}


class Clipper:
    """ClipService's logic on a ClipStore, a ClipStorage and a ClipJobRunner."""

    def __init__(
        self, settings: Settings, store: ClipStore, storage: ClipStorage, jobs: ClipJobRunner
    ) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.jobs = jobs

    def _window(self, request: clips_pb2.CreateClipRequest) -> tuple[float, float]:
        """(pre_roll, post_roll) in seconds: the request's, else the configured
        defaults. Raises InvalidArgument naming the bad field."""
        clips = self.settings.clips
        pre = (
            duration_seconds(request.pre_roll)
            if request.HasField("pre_roll")
            else clips.pre_roll_seconds
        )
        post = (
            duration_seconds(request.post_roll)
            if request.HasField("post_roll")
            else clips.post_roll_seconds
        )
        if pre < 0:
            raise InvalidArgument(f"pre_roll must not be negative (got {pre:g} s)")
        if post < 0:
            raise InvalidArgument(f"post_roll must not be negative (got {post:g} s)")
        if pre + post <= 0:
            raise InvalidArgument("pre_roll + post_roll must be longer than 0 s")
        if pre + post > clips.max_seconds:
            raise InvalidArgument(
                f"pre_roll + post_roll is {pre + post:g} s, longer than the "
                f"{clips.max_seconds:g} s allowed (clips.max_seconds)"
            )
        return pre, post

    async def create_clip(self, request: clips_pb2.CreateClipRequest) -> clips_pb2.Clip:
        """Validate, record the clip PENDING and schedule its job; returns at once.

        Idempotent per (alert_id, camera_id) and per request_id: a retry returns
        the existing clip (whatever its state). Raises InvalidArgument (missing
        camera_id or event_time, negative roll, window too long), NotFound
        (camera not configured).
        """
        if not request.camera_id:
            raise InvalidArgument("camera_id is required")
        if self.settings.camera(request.camera_id) is None:
            raise NotFound(f"camera {request.camera_id!r} is not configured")
        if not request.HasField("event_time"):
            raise InvalidArgument("event_time is required")
        pre, post = self._window(request)
        event_time = from_timestamp(request.event_time)
        end_time = event_time + timedelta(seconds=post)
        now = utcnow()
        trace_context: dict[str, str] = {}
        propagate.inject(trace_context)  # the CreateClip span: the job continues this trace
        record = ClipRecord(
            id=new_clip_id(now),
            camera_id=request.camera_id,
            event_id=request.event_id,
            alert_id=request.alert_id or None,
            request_id=request.request_id or None,
            start_time=event_time - timedelta(seconds=pre),
            end_time=end_time,
            event_time=event_time,
            next_attempt_at=self.jobs.first_attempt_at(event_time - timedelta(seconds=pre)),
            trace_context=trace_context,
            create_time=now,
            update_time=now,
        )
        stored, created = await asyncio.to_thread(self.store.create, record)
        if created:
            self.jobs.submit(stored.id)
        return messages.clip_message(stored)

    async def _get(self, clip_id: str, field: str = "id") -> ClipRecord:
        if not clip_id:
            raise InvalidArgument(f"{field} is required")
        record = await asyncio.to_thread(self.store.get, clip_id)
        if record is None:
            raise NotFound(f"clip {clip_id!r} does not exist")
        return record

    async def get_clip(self, request: clips_pb2.GetClipRequest) -> clips_pb2.Clip:
        """One clip. Raises InvalidArgument (no id), NotFound."""
        return messages.clip_message(await self._get(request.id))

    async def list_clips(self, request: clips_pb2.ListClipsRequest) -> clips_pb2.ListClipsResponse:
        """Clips newest first, ``page_size`` (default 50, at most 1000) at a time,
        filtered by camera_id/event_id/alert_id when set (AIP-158). Raises
        InvalidArgument for a negative page_size or a bad page_token."""
        size = pagination.page_size(request.page_size)
        filters = [request.camera_id, request.event_id, request.alert_id]
        after = pagination.decode_page_token(
            request.page_token, filters, "camera_id/event_id/alert_id"
        )
        rows = await asyncio.to_thread(
            self.store.list_clips,
            size + 1,
            after,
            camera_id=request.camera_id,
            event_id=request.event_id,
            alert_id=request.alert_id,
        )
        response = clips_pb2.ListClipsResponse(
            clips=[messages.clip_message(r) for r in rows[:size]]
        )
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = pagination.encode_page_token(
                PageCursor(last.create_time, last.id), filters
            )
        return response

    async def read_clip_media(
        self, request: clips_pb2.ReadClipMediaRequest
    ) -> AsyncIterator[clips_pb2.ReadClipMediaResponse]:
        """Bytes ``offset`` .. ``offset + length`` (length 0 = to the end) of a READY
        clip's MP4 or JPEG in chunks of at most 1 MiB; the first message carries
        total_size (bytes of the whole file) and content_type. Raises
        InvalidArgument (no clip_id or kind, negative offset/length), NotFound,
        FailedPrecondition (not READY), OutOfRange (offset >= size)."""
        content_type = CONTENT_TYPES.get(request.kind)
        if content_type is None:
            raise InvalidArgument("kind must be VIDEO or THUMBNAIL")
        if request.offset < 0 or request.length < 0:
            raise InvalidArgument("offset and length must not be negative")
        record = await self._get(request.clip_id, "clip_id")
        if record.state != READY:
            raise FailedPrecondition(
                f"clip {record.id} is {record.state}, media is served once it is READY"
            )
        if request.kind == clips_pb2.ReadClipMediaRequest.Kind.VIDEO:
            key, size = record.video_key, record.size_bytes
        else:
            key, size = record.thumbnail_key, record.thumbnail_size_bytes
        if not key or size is None:
            raise NotFound(f"clip {record.id} has no {content_type} file")
        if request.offset >= size:
            raise OutOfRange(f"offset {request.offset} is past the end ({size} bytes)")
        chunks = self.storage.open_range(key, request.offset, request.length, CHUNK_BYTES)
        first = True
        try:
            while True:
                data = await asyncio.to_thread(next, chunks, None)
                if data is None:
                    break
                if first:
                    yield clips_pb2.ReadClipMediaResponse(
                        total_size=size, content_type=content_type, data=data
                    )
                    first = False
                else:
                    yield clips_pb2.ReadClipMediaResponse(data=data)
        finally:
            chunks.close()  # type: ignore[attr-defined]


class ClipServicer(clips_pb2_grpc.ClipServiceServicer):
    """eventclip.v1.ClipService; see Clipper for the behaviour of each method."""

    def __init__(self, clipper: Clipper) -> None:
        self.clipper = clipper

    @grpc_method
    async def CreateClip(
        self, request: clips_pb2.CreateClipRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.Clip:
        return await self.clipper.create_clip(request)

    @grpc_method
    async def GetClip(
        self, request: clips_pb2.GetClipRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.Clip:
        return await self.clipper.get_clip(request)

    @grpc_method
    async def ListClips(
        self, request: clips_pb2.ListClipsRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.ListClipsResponse:
        return await self.clipper.list_clips(request)

    @grpc_method
    async def ReadClipMedia(
        self, request: clips_pb2.ReadClipMediaRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[clips_pb2.ReadClipMediaResponse]:
        async for chunk in self.clipper.read_clip_media(request):
            yield chunk


@dataclass
class RunningClipper:
    """The started clipper service (eventclip.rpc.RunningService)."""

    server: grpc.aio.Server
    clipper: Clipper
    buffer_channel: grpc.aio.Channel
    port: int
    name: str = "clipper"

    async def stop(self, grace: float) -> None:
        """Stop accepting RPCs and drain them while running jobs get up to
        ``grace`` s to finish; interrupted jobs resume on the next start."""
        await asyncio.gather(self.server.stop(grace), self.clipper.jobs.stop(grace))
        await self.buffer_channel.close()
        await asyncio.to_thread(self.clipper.store.close)


async def start(settings: Settings) -> RunningClipper:
    """Serve ClipService on ``settings.services.clipper.bind``: migrate the
    database, clear half-written files, resume unfinished clip jobs."""
    if not settings.queue_url.startswith("memory://"):
        # Only the in-process queue exists; the database still holds every job.
        log.warning("queue_url %s is not supported yet; using memory://", settings.queue_url)
    store = await asyncio.to_thread(ClipStore.open, settings.effective_database_url)
    storage = LocalStorage(settings.clips_dir)
    await asyncio.to_thread(storage.clear_staging)
    buffer_channel = open_channel(settings.services.buffer.target)
    jobs = ClipJobRunner(
        store,
        storage,
        buffer_channel,
        max_attempts=settings.clips.max_attempts,
    )
    clipper = Clipper(settings, store, storage, jobs)
    try:
        server, port = await start_server(
            settings.services.clipper.bind,
            [
                Registration(
                    clips_pb2_grpc.add_ClipServiceServicer_to_server,
                    ClipServicer(clipper),
                    "eventclip.v1.ClipService",
                )
            ],
        )
    except Exception:
        await buffer_channel.close()
        store.close()
        raise
    await jobs.resume()
    log.info("clipper listening on port %d", port)
    return RunningClipper(server, clipper, buffer_channel, port)
