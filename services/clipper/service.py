"""The clipper service: ClipService over gRPC, clip jobs and retention in the background.

``Clipper`` holds the request logic (validation, idempotency, listing, media
reads, cancel, legal hold, audit trail) and works without gRPC; ``ClipServicer``
only passes messages through, with the caller's actor (``eventclip.actor``);
``start(settings)`` wires the database, storage, buffer channel, job runner and
retention sweeper.
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
from eventclip.actor import SYSTEM, request_actor
from eventclip.clipper import audit, messages
from eventclip.clipper.evidence import EvidenceExporter
from eventclip.clipper.jobs import ClipJobs, first_attempt_at
from eventclip.clipper.models import (
    CANCELLED,
    DELETED,
    FAILED,
    TRIM_EXACT,
    TRIM_KEYFRAME,
    UNFINISHED_STATES,
    ClipRecord,
)
from eventclip.clipper.queue import MemoryJobQueue
from eventclip.clipper.retention import RetentionSweeper
from eventclip.clipper.shared_reads import SharedWindowReader
from eventclip.clipper.signing import ALGORITHM, SigningKey, SigningKeyError
from eventclip.clipper.staging import WindowLogs
from eventclip.clipper.storage import CHUNK_BYTES, ClipStorage, LocalStorage
from eventclip.clipper.store import ClipStore, StateConflict, new_clip_id
from eventclip.clipper.window_reader import WindowReader
from eventclip.config import ConfigError, Settings
from eventclip.errors import FailedPrecondition, InvalidArgument, NotFound, OutOfRange
from eventclip.notifications import Notifier
from eventclip.pagination import PageCursor
from eventclip.rpc import Registration, grpc_method, open_channel, start_server
from eventclip.run_marker import RunMarker
from eventclip.timeutil import duration_seconds, from_timestamp, rfc3339, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc

log = logging.getLogger(__name__)

Kind = clips_pb2.ReadClipMediaRequest.Kind


@dataclass(frozen=True)
class MediaKind:
    """One kind of file a clip holds: content type, name in messages, and the
    row's columns for its storage key and size."""

    content_type: str
    name: str
    key_column: str
    size_column: str


MEDIA_KINDS = {
    Kind.VIDEO: MediaKind("video/mp4", "video", "video_key", "size_bytes"),
    Kind.THUMBNAIL: MediaKind("image/jpeg", "thumbnail", "thumbnail_key", "thumbnail_size_bytes"),
    Kind.METADATA: MediaKind("application/json", "metadata", "metadata_key", "metadata_size_bytes"),
}


def media_unavailable(record: ClipRecord) -> Exception | None:
    """Why clip ``record`` has no media to serve (the error to raise), or None
    when it holds media: READY, or FAILED with what was recorded."""
    if record.state == DELETED:
        deleted = rfc3339(record.delete_time) if record.delete_time else "an unknown time"
        return NotFound(
            f"clip {record.id}'s media was deleted by retention at {deleted}; "
            "its record and audit trail remain"
        )
    if record.state == CANCELLED:
        return NotFound(f"clip {record.id} was cancelled: it has no media")
    if record.state in UNFINISHED_STATES:
        return FailedPrecondition(
            f"clip {record.id} is {record.state}, media is served once it is READY"
        )
    if record.state == FAILED and not record.video_key:
        return FailedPrecondition(f"clip {record.id} FAILED without media: {record.failure_reason}")
    return None


class Clipper:
    """ClipService's logic on a ClipStore, a ClipStorage, a MemoryJobQueue and an
    EvidenceExporter."""

    def __init__(
        self,
        settings: Settings,
        store: ClipStore,
        storage: ClipStorage,
        jobs: MemoryJobQueue,
        evidence: EvidenceExporter,
    ) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.jobs = jobs
        self.evidence = evidence

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

    def _trim(self, request: clips_pb2.CreateClipRequest) -> str:
        """TRIM_KEYFRAME or TRIM_EXACT: the request's, else ``clips.trim``.
        Raises InvalidArgument for a value outside the Trim enum."""
        if request.trim == clips_pb2.TRIM_UNSPECIFIED:
            return TRIM_EXACT if self.settings.clips.trim == "exact" else TRIM_KEYFRAME
        if request.trim not in (clips_pb2.KEYFRAME, clips_pb2.EXACT):
            raise InvalidArgument(f"trim must be KEYFRAME or EXACT (got {request.trim})")
        return clips_pb2.Trim.Name(request.trim)

    async def create_clip(
        self, request: clips_pb2.CreateClipRequest, actor: str = SYSTEM
    ) -> clips_pb2.Clip:
        """Validate, record the clip PENDING (audited as "created" by ``actor``)
        and schedule its job; returns at once.

        Idempotent per (alert_id, camera_id) and per request_id: a retry returns
        the existing clip (whatever its state). The trim is the request's, else
        the configured ``clips.trim``. Raises InvalidArgument (missing camera_id
        or event_time, negative roll, window too long, unknown trim), NotFound
        (camera not configured).
        """
        if not request.camera_id:
            raise InvalidArgument("camera_id is required")
        if self.settings.camera(request.camera_id) is None:
            raise NotFound(f"camera {request.camera_id!r} is not configured")
        if not request.HasField("event_time"):
            raise InvalidArgument("event_time is required")
        pre, post = self._window(request)
        trim = self._trim(request)
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
            trim=trim,
            next_attempt_at=first_attempt_at(event_time - timedelta(seconds=pre)),
            trace_context=trace_context,
            create_time=now,
            update_time=now,
        )
        stored, created = await asyncio.to_thread(self.store.create, record, actor=actor)
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
        self, request: clips_pb2.ReadClipMediaRequest, actor: str = SYSTEM
    ) -> AsyncIterator[clips_pb2.ReadClipMediaResponse]:
        """Bytes ``offset`` .. ``offset + length`` (length 0 = to the end) of a
        clip's MP4, JPEG or sidecar JSON in chunks of at most 1 MiB; the first
        message carries total_size (bytes of the whole file) and content_type.
        A ``download`` is audited as "downloaded", another read from offset 0
        as "viewed", by ``actor``. Raises InvalidArgument (no clip_id or kind,
        negative offset/length), NotFound (unknown clip, no such file, media
        deleted or cancelled), FailedPrecondition (no media yet, or FAILED
        without media), OutOfRange (offset >= size)."""
        kind = MEDIA_KINDS.get(request.kind)
        if kind is None:
            raise InvalidArgument("kind must be VIDEO, THUMBNAIL or METADATA")
        if request.offset < 0 or request.length < 0:
            raise InvalidArgument("offset and length must not be negative")
        record = await self._get(request.clip_id, "clip_id")
        if (refusal := media_unavailable(record)) is not None:
            raise refusal
        key, size = getattr(record, kind.key_column), getattr(record, kind.size_column)
        if not key or size is None:
            raise NotFound(f"clip {record.id} has no {kind.name} file")
        if request.offset >= size:
            raise OutOfRange(f"offset {request.offset} is past the end ({size} bytes)")
        if request.download or request.offset == 0:
            action = audit.DOWNLOADED if request.download else audit.VIEWED
            await asyncio.to_thread(
                self.store.record_access,
                record.id,
                action,
                actor,
                f"{kind.name} from byte {request.offset}",
            )
        chunks = self.storage.open_range(key, request.offset, request.length, CHUNK_BYTES)
        first = True
        try:
            while True:
                data = await asyncio.to_thread(next, chunks, None)
                if data is None:
                    break
                if first:
                    yield clips_pb2.ReadClipMediaResponse(
                        total_size=size, content_type=kind.content_type, data=data
                    )
                    first = False
                else:
                    yield clips_pb2.ReadClipMediaResponse(data=data)
        finally:
            chunks.close()  # type: ignore[attr-defined]

    async def cancel_clip(
        self, request: clips_pb2.CancelClipRequest, actor: str = SYSTEM
    ) -> clips_pb2.Clip:
        """Stop the clip's job and make it CANCELLED (audited, by ``actor``); no
        media is kept. A CANCELLED clip is returned unchanged. Raises
        InvalidArgument (no id), NotFound, FailedPrecondition (the clip is
        finished, or finished while being cancelled)."""
        record = await self._get(request.id)
        if record.state == CANCELLED:
            return messages.clip_message(record)
        if record.state not in UNFINISHED_STATES:
            raise FailedPrecondition(
                f"clip {record.id} is {record.state}: only PENDING or RECORDING clips "
                "can be cancelled"
            )
        await self.jobs.cancel(record.id)
        try:
            record = await asyncio.to_thread(
                self.store.transition,
                record.id,
                CANCELLED,
                allowed_from=UNFINISHED_STATES,
                actor=actor,
                detail="cancelled by request",
                next_attempt_at=None,
            )
        except StateConflict as err:
            if err.record.state == CANCELLED:
                return messages.clip_message(err.record)
            raise FailedPrecondition(
                f"clip {record.id} became {err.record.state} before it could be cancelled"
            ) from err
        # What the stopped job staged while recording is not kept either.
        await asyncio.to_thread(self.jobs.jobs.logs.for_clip(record.id).remove)
        return messages.clip_message(record)

    async def set_legal_hold(
        self, clip_id: str, held: bool, reason: str, actor: str = SYSTEM
    ) -> clips_pb2.Clip:
        """HoldClip (``held``) / ReleaseClip: audited as "held"/"released" with
        ``reason``; a clip already so is returned unchanged. Raises
        InvalidArgument (no id), NotFound, FailedPrecondition (holding a DELETED
        or CANCELLED clip)."""
        await self._get(clip_id)
        try:
            record, _changed = await asyncio.to_thread(
                self.store.set_legal_hold, clip_id, held, actor=actor, reason=reason
            )
        except StateConflict as err:
            raise FailedPrecondition(str(err)) from err
        return messages.clip_message(record)

    async def list_audit_entries(
        self, request: clips_pb2.ListAuditEntriesRequest
    ) -> clips_pb2.ListAuditEntriesResponse:
        """The clip's audit trail oldest first, ``page_size`` (default 50, at most
        1000) at a time, and whether its whole chain verifies. Raises
        InvalidArgument (no clip_id, negative page_size, bad page_token),
        NotFound."""
        record = await self._get(request.clip_id, "clip_id")
        size = pagination.page_size(request.page_size)
        after = pagination.decode_sequence_token(request.page_token, [record.id], "clip_id")
        trail = await asyncio.to_thread(self.store.audit_trail, record.id)
        check = audit.verify_chain(
            trail, head_sequence=record.audit_sequence, head_sha256=record.audit_sha256
        )
        page = [e for e in trail if e.sequence > after][:size]
        response = clips_pb2.ListAuditEntriesResponse(
            entries=[audit.entry_message(e) for e in page],
            chain_intact=check.intact,
            chain_error=check.error,
        )
        if page and page[-1].sequence < trail[-1].sequence:
            response.next_page_token = pagination.encode_sequence_token(
                page[-1].sequence, [record.id]
            )
        return response

    def evidence_public_key(self) -> clips_pb2.EvidencePublicKey:
        """The public half of the key that signs evidence packages."""
        signer = self.evidence.signer
        return clips_pb2.EvidencePublicKey(
            algorithm=ALGORITHM, pem=signer.public_pem, fingerprint_sha256=signer.fingerprint
        )


class ClipServicer(clips_pb2_grpc.ClipServiceServicer):
    """eventclip.v1.ClipService; see Clipper for the behaviour of each method."""

    def __init__(self, clipper: Clipper) -> None:
        self.clipper = clipper

    @grpc_method
    async def CreateClip(
        self, request: clips_pb2.CreateClipRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.Clip:
        return await self.clipper.create_clip(request, request_actor(context))

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
        async for chunk in self.clipper.read_clip_media(request, request_actor(context)):
            yield chunk

    @grpc_method
    async def CancelClip(
        self, request: clips_pb2.CancelClipRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.Clip:
        return await self.clipper.cancel_clip(request, request_actor(context))

    @grpc_method
    async def HoldClip(
        self, request: clips_pb2.HoldClipRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.Clip:
        return await self.clipper.set_legal_hold(
            request.id, True, request.reason, request_actor(context)
        )

    @grpc_method
    async def ReleaseClip(
        self, request: clips_pb2.ReleaseClipRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.Clip:
        return await self.clipper.set_legal_hold(
            request.id, False, request.reason, request_actor(context)
        )

    @grpc_method
    async def ListAuditEntries(
        self, request: clips_pb2.ListAuditEntriesRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.ListAuditEntriesResponse:
        return await self.clipper.list_audit_entries(request)

    @grpc_method
    async def ExportEvidence(
        self, request: clips_pb2.ExportEvidenceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[clips_pb2.ExportEvidenceResponse]:
        async for chunk in self.clipper.evidence.export(request.alert_id, request_actor(context)):
            yield chunk

    @grpc_method
    async def GetEvidencePublicKey(
        self, request: clips_pb2.GetEvidencePublicKeyRequest, context: grpc.aio.ServicerContext
    ) -> clips_pb2.EvidencePublicKey:
        return self.clipper.evidence_public_key()


@dataclass
class RunningClipper:
    """The started clipper service (eventclip.rpc.RunningService)."""

    server: grpc.aio.Server
    clipper: Clipper
    channels: list[grpc.aio.Channel]
    sweeper: RetentionSweeper
    port: int
    running: RunMarker
    notifier: Notifier
    name: str = "clipper"

    async def stop(self, grace: float) -> None:
        """Stop accepting RPCs and drain them while running jobs get up to
        ``grace`` s to finish; interrupted jobs resume on the next start."""
        await asyncio.gather(
            self.server.stop(grace), self.clipper.jobs.stop(grace), self.sweeper.stop()
        )
        await self.notifier.close(min(grace, 2.0))
        await asyncio.gather(*(channel.close() for channel in self.channels))
        await asyncio.to_thread(self.clipper.store.close)
        await asyncio.to_thread(self.running.clear)


async def start(settings: Settings) -> RunningClipper:
    """Serve ClipService on ``settings.services.clipper.bind``: migrate the
    database, clear half-written files, load (or make) the evidence signing
    key, resume unfinished clip jobs and start the retention sweeper. Raises
    ConfigError naming the key file when it is unusable."""
    if not settings.queue_url.startswith("memory://"):
        # Only the in-process queue exists; the database still holds every job.
        log.warning("queue_url %s is not supported yet; using memory://", settings.queue_url)
    store = await asyncio.to_thread(
        ClipStore.open,
        settings.effective_database_url,
        clip_max_age_seconds=settings.retention.clip_max_age_seconds,
    )
    storage = LocalStorage(settings.clips_dir)
    await asyncio.to_thread(storage.clear_staging)
    running = RunMarker(settings.data_dir / "clipper.running")
    if await asyncio.to_thread(running.left_by_a_crash):
        interrupted = await asyncio.to_thread(store.give_back_interrupted_attempts)
        if interrupted:
            log.warning(
                "the last run did not stop cleanly: %d clip attempt(s) it cut short do "
                "not count against max_attempts: %s",
                len(interrupted),
                ", ".join(interrupted),
            )
    try:
        signer = await asyncio.to_thread(SigningKey.load_or_create, settings.signing_key_path)
    except SigningKeyError as err:
        store.close()
        raise ConfigError(str(err)) from err
    buffer_channel = open_channel(settings.services.buffer.target, tls=settings.tls)
    events_channel = open_channel(settings.services.events.target, tls=settings.tls)
    logs = WindowLogs(settings.staged_windows_dir)
    unfinished = {r.id for r in await asyncio.to_thread(store.unfinished)}
    for clip_id in await asyncio.to_thread(logs.remove_except, unfinished):
        log.info("removed the window log of finished clip %s", clip_id)
    window_reader = WindowReader(buffer_channel, utcnow)
    notifier = Notifier(settings.notifications, settings.mqtt)
    jobs = MemoryJobQueue(
        ClipJobs(
            store,
            storage,
            SharedWindowReader(window_reader, max_window_seconds=settings.clips.max_seconds),
            logs,
            max_attempts=settings.clips.max_attempts,
            cutter=window_reader,
            on_finished=lambda record: notifier.clip(messages.clip_message(record)),
        )
    )
    evidence = EvidenceExporter(
        store, storage, signer, events_channel, settings.services.events.target
    )
    clipper = Clipper(settings, store, storage, jobs, evidence)
    channels = [buffer_channel, events_channel]
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
            tls=settings.tls,
        )
    except Exception:
        await asyncio.gather(*(channel.close() for channel in channels))
        store.close()
        raise
    notifier.start()
    await jobs.resume()
    sweeper = RetentionSweeper(
        store, storage, interval_seconds=settings.retention.sweep_interval_seconds
    )
    sweeper.start()
    log.info("clipper listening on port %d", port)
    return RunningClipper(server, clipper, channels, sweeper, port, running, notifier)
