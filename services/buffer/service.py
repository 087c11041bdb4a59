"""The buffer service: per-camera rings fed by ingest threads, served over gRPC.

``Buffer`` holds the logic (cameras, ReadWindow's selection and live follow)
and works without gRPC; ``BufferServicer`` only converts messages;
``start(settings)`` runs both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

from eventclip.buffer.cut import CutWindow, cut_window, open_output_file
from eventclip.buffer.ring import BufferedPacket, CodecParams, PacketRing
from eventclip.buffer.sampling import FrameSampler, SampledFrame
from eventclip.buffer.snapshots import Picture, Snapshots
from eventclip.buffer.wire import codec_message, encode_packet_batch
from eventclip.buffer.worker import CameraState, CameraWorker, IngestStatus, reconnect_backoff
from eventclip.config import CameraConfig, Settings
from eventclip.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from eventclip.media.mp4 import RemuxError
from eventclip.media.pictures import PictureError
from eventclip.redact import redact_url
from eventclip.retry import Backoff
from eventclip.rpc import Registration, grpc_method, start_server
from eventclip.timeutil import (
    format_time,
    from_timestamp,
    timestamp_seconds,
    to_duration,
    to_timestamp,
)
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

log = logging.getLogger(__name__)

#: Most packet bytes in one PacketBatch message (the contract says <= 1 MiB);
#: a single larger packet (a 4K keyframe) travels alone.
MAX_BATCH_BYTES = 1024 * 1024
#: Protobuf framing per Packet (tags, varints, wall_time), counted against the limit.
PACKET_OVERHEAD_BYTES = 48
#: CutWindow calls served at once; each holds its MP4 (about the window's
#: bitrate x length) in memory until it is sent, and muxing is CPU-bound.
MAX_CONCURRENT_CUTS = 2
#: Most packets read from the ring per step while streaming a window.
READ_CHUNK_PACKETS = 512
#: Most packets decoded per step while sampling frames: between steps the
#: sampler checks whether it fell behind.
SAMPLE_CHUNK_PACKETS = 30
#: Highest SampleFrames rate, frames a second.
MAX_SAMPLE_FPS = 60.0


@dataclass
class BufferedCamera:
    """One configured camera: its ring and, when ingesting, its worker."""

    config: CameraConfig
    ring: PacketRing
    worker: CameraWorker | None = None
    snapshots: Snapshots = field(init=False)

    def __post_init__(self) -> None:
        self.snapshots = Snapshots(self.config.id)

    @property
    def status(self) -> IngestStatus:
        return self.worker.status if self.worker else IngestStatus()

    def status_message(self) -> str:
        """Why the camera is not delivering everything, "" when it is: the
        ingest status, and whether its newest GOP is being cut at the GOP
        byte bound (packets dropped until the next keyframe)."""
        notes = [self.status.message] if self.status.message else []
        stats = self.ring.stats()
        if stats.truncated_at is not None:
            notes.append(
                f"no keyframe since its GOP reached {self.ring.max_gop_bytes} bytes at "
                f"{format_time(stats.truncated_at)}: dropping packets until the next keyframe "
                f"({stats.dropped_packets} packets, {stats.dropped_bytes} bytes dropped so far)"
            )
        return "; ".join(notes)


class Buffer:
    """All cameras of a site: rings plus ingest workers, and window reads.

    ``max_window_seconds``: longest ReadWindow span (settings.clips.max_seconds).
    ``stall_timeout``: seconds without a new packet after which a live follow
    ends with UNAVAILABLE. Timeouts are passed to the workers; ``backoff``
    replaces every camera's reconnect delays (default: ``reconnect_backoff`` of
    its ``reconnect_max_seconds``).
    """

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        *,
        max_window_seconds: float,
        stall_timeout: float = 10.0,
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.max_window_seconds = max_window_seconds
        self.stall_timeout = stall_timeout
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff = backoff
        self.cameras: dict[str, BufferedCamera] = {
            c.id: BufferedCamera(
                c, PacketRing(c.buffer_seconds, c.buffer_bytes, c.gop_bytes_bound, name=c.id)
            )
            for c in cameras
        }

    def camera(self, camera_id: str) -> BufferedCamera:
        """The camera ``camera_id``; NotFound naming the known ids otherwise."""
        try:
            return self.cameras[camera_id]
        except KeyError:
            known = ", ".join(sorted(self.cameras)) or "none"
            raise NotFound(f"camera {camera_id!r} is not configured (known: {known})") from None

    def start_ingest(self) -> None:
        """Start a demux thread for every camera (call on the serving loop)."""
        loop = asyncio.get_running_loop()
        for cam in self.cameras.values():
            if cam.worker is None:
                cam.worker = CameraWorker(
                    cam.config.id,
                    cam.config.source,
                    cam.ring,
                    loop,
                    open_timeout=self.open_timeout,
                    read_timeout=self.read_timeout,
                    backoff=self.backoff or reconnect_backoff(cam.config.reconnect_max_seconds),
                )
                cam.worker.start()

    async def stop_ingest(self, join_seconds: float = 15.0) -> None:
        """Stop every worker and wait (up to ``join_seconds``) for the threads."""
        workers = [c.worker for c in self.cameras.values() if c.worker]
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + join_seconds
        for worker in workers:
            remaining = max(deadline - time.monotonic(), 0.0)
            if not await asyncio.to_thread(worker.join, remaining):
                log.warning("ingest thread of camera %s did not stop", worker.camera_id)

    async def read_window(
        self, camera_id: str, start: float | None, end: float | None, *, follow: bool = True
    ) -> AsyncIterator[CodecParams | list[BufferedPacket]]:
        """Yield the window [start, end] (seconds since the epoch) of a camera:
        the codec parameters of a timeline before its first packets, then lists
        of packets (decode order, at most MAX_BATCH_BYTES of data unless one
        packet is larger). Starts at the last keyframe at or before ``start``
        (the oldest keyframe when ``start`` is older than the ring); ends with
        the first packet whose dts is at or after ``end``, following live
        packets when ``end`` has not been reached yet; not ``follow``: raises
        FailedPrecondition instead of waiting for any packet.

        Raises NotFound, InvalidArgument (missing, inverted or too long
        window), Unavailable (nothing buffered, or no packet for
        ``stall_timeout`` s while following), FailedPrecondition (the window
        ended before the oldest buffered packet, or left the ring while read).
        """
        cam = self.camera(camera_id)
        if start is None:
            raise InvalidArgument("start_time is required")
        if end is None:
            raise InvalidArgument("end_time is required")
        if end <= start:
            raise InvalidArgument(
                f"end_time {format_time(end)} must be after start_time {format_time(start)}"
            )
        if end - start > self.max_window_seconds:
            raise InvalidArgument(
                f"window of {end - start:.1f} s (start_time to end_time) exceeds the "
                f"maximum of {self.max_window_seconds:g} s"
            )
        ring = cam.ring
        stats = ring.stats()
        if stats.oldest_time is None or stats.newest_time is None:
            reason = cam.status_message() or cam.status.state.value.lower()
            raise Unavailable(f"camera {camera_id} has nothing buffered ({reason})")
        if end < stats.oldest_time:
            raise FailedPrecondition(
                f"camera {camera_id} buffers {format_time(stats.oldest_time)}.."
                f"{format_time(stats.newest_time)}; requested window ends {format_time(end)}"
            )
        # A start beyond the live edge: wait until it is buffered, so the
        # keyframe chosen is the last one at or before it.
        while (newest := ring.stats().newest_time) is not None and newest < start:
            await self._wait(cam, ring.next_seq, end, follow)
        seq = ring.find_start(start)
        timeline: int | None = None
        batch: list[BufferedPacket] = []
        batch_bytes = 0
        while True:
            packets = ring.read(seq, READ_CHUNK_PACKETS)
            # Taken with the packets: their timeline may leave the ring while
            # this generator is suspended in a yield.
            codecs = ring.timeline_codecs()
            if not packets:
                if batch:
                    yield batch
                    batch, batch_bytes = [], 0
                await self._wait(cam, seq, end, follow)
                continue
            for packet in packets:
                seq += 1
                size = len(packet.data) + PACKET_OVERHEAD_BYTES
                if packet.timeline_id != timeline or batch_bytes + size > MAX_BATCH_BYTES:
                    if batch:
                        yield batch
                        batch, batch_bytes = [], 0
                    if packet.timeline_id != timeline:
                        timeline = packet.timeline_id
                        yield codecs[timeline]
                batch.append(packet)
                batch_bytes += size
                if packet.decode_wall_time(codecs[packet.timeline_id].time_base) >= end:
                    yield batch
                    return

    async def cut_window(
        self,
        camera_id: str,
        start: float | None,
        end: float | None,
        *,
        event: datetime,
        exact_start: bool,
    ) -> CutWindow:
        """The window [start, end] (seconds since the epoch) of a camera, cut
        into an in-memory MP4 from the packets ``read_window`` gives for it
        (``eventclip.buffer.cut``). ``event``: the event time (UTC), which
        picks the timelines kept and the thumbnail's keyframe; ``exact_start``:
        the EXACT trim. Never waits for live packets.

        Raises what ``read_window`` raises, FailedPrecondition when the ring
        does not yet hold a packet at or after ``end`` too, and InvalidArgument
        when the window cannot be made into an MP4 (RemuxError's message)."""
        window = [item async for item in self.read_window(camera_id, start, end, follow=False)]
        assert start is not None  # read_window raised otherwise
        # To the microsecond, as the clipper's datetimes: the same keyframe chosen.
        start_time = datetime.fromtimestamp(start, UTC)
        try:
            return await asyncio.to_thread(
                cut_window, window, start_time=start_time, event_time=event, exact_start=exact_start
            )
        except RemuxError as err:
            raise InvalidArgument(f"camera {camera_id}: {err}") from None

    async def snapshot(self, camera_id: str, max_width: int) -> Picture:
        """The camera's newest keyframe as a JPEG at most ``max_width`` pixels
        wide (0: its own size; see ``snapshots``). Raises NotFound,
        InvalidArgument (negative width), Unavailable (nothing buffered, or
        the keyframe does not decode)."""
        cam = self.camera(camera_id)
        if max_width < 0:
            raise InvalidArgument(f"max_width must be >= 0, not {max_width}")
        return await cam.snapshots.newest(cam.ring, max_width)

    async def sample_frames(
        self, camera_id: str, fps: float, max_width: int
    ) -> AsyncIterator[SampledFrame]:
        """Decoded frames of the camera from its newest keyframe on, about
        ``fps`` a second (see ``sampling``), until the caller stops. Skips to
        the newest keyframe when the caller falls more than a GOP behind.

        Raises NotFound, InvalidArgument (fps not in (0, MAX_SAMPLE_FPS],
        negative width), Unavailable (no packet for ``stall_timeout`` s, or
        the stream does not decode)."""
        cam = self.camera(camera_id)
        if not 0 < fps <= MAX_SAMPLE_FPS:
            raise InvalidArgument(f"fps must be > 0 and <= {MAX_SAMPLE_FPS}, not {fps:g}")
        if max_width < 0:
            raise InvalidArgument(f"max_width must be >= 0, not {max_width}")
        sampler = FrameSampler(fps, max_width)
        seq: int | None = None
        while True:
            ring = cam.ring
            newest = ring.newest_keyframe()
            if newest is None:
                await self._wait_live(cam, ring.next_seq)
                continue
            if seq is None or _behind(ring, seq, newest):
                seq = newest[0]
                sampler.reset()
            try:
                packets = ring.read(seq, SAMPLE_CHUNK_PACKETS)
            except FailedPrecondition:  # our place left the ring
                seq = None
                continue
            if not packets:
                await self._wait_live(cam, seq)
                continue
            seq += len(packets)
            sampler.set_gop_seconds(_gop_seconds(ring) or None)
            try:
                frames = await asyncio.to_thread(sampler.feed, packets, ring.timeline_codecs())
            except PictureError as err:
                raise Unavailable(f"camera {camera_id}: {err}") from None
            for frame in frames:
                if (newest := ring.newest_keyframe()) is not None and _behind(ring, seq, newest):
                    break  # the rest are stale too: start again from the newest keyframe
                yield frame

    async def _wait_live(self, cam: BufferedCamera, seq: int, while_: str = "") -> None:
        """Until packet ``seq`` arrives; Unavailable after ``stall_timeout`` s
        (``while_``: what the caller was doing, for the message)."""
        try:
            async with asyncio.timeout(self.stall_timeout):
                await cam.ring.wait_for(seq)
        except TimeoutError:
            message = cam.status_message()
            why = f": {message}" if message else ""
            raise Unavailable(
                f"camera {cam.config.id} delivered no packet for {self.stall_timeout:g} s"
                f"{while_} ({cam.status.state.value.lower()}{why})"
            ) from None

    async def _wait(self, cam: BufferedCamera, seq: int, end: float, follow: bool = True) -> None:
        if not follow:
            raise FailedPrecondition(
                f"camera {cam.config.id} has not buffered up to {format_time(end)} yet "
                "(ReadWindow follows live packets)"
            )
        await self._wait_live(cam, seq, f" while following live up to {format_time(end)}")


def _behind(ring: PacketRing, seq: int, newest: tuple[int, BufferedPacket]) -> bool:
    """True when a reader at ``seq`` is more than a GOP behind: a keyframe
    newer than the one its GOP started from is buffered past it."""
    newest_seq, newest_keyframe = newest
    if newest_seq <= seq:
        return False
    try:
        (at,) = ring.read(seq, 1)
    except (FailedPrecondition, ValueError):
        return True
    # Within the newest GOP's predecessor still: finish it; further back: skip.
    return newest_keyframe.wall_time - at.wall_time > _gop_seconds(ring)


def _gop_seconds(ring: PacketRing) -> float:
    stats = ring.stats()
    return stats.buffered_seconds / (stats.gop_count - 1) if stats.gop_count > 1 else 0.0


_STATES = {
    CameraState.CONNECTING: buffer_pb2.Camera.CONNECTING,
    CameraState.ONLINE: buffer_pb2.Camera.ONLINE,
    CameraState.OFFLINE: buffer_pb2.Camera.OFFLINE,
}


def camera_message(cam: BufferedCamera, now: float) -> buffer_pb2.Camera:
    """The Camera status message; ``now``: time.time()."""
    stats = cam.ring.stats()
    status = cam.status
    message = buffer_pb2.Camera(
        id=cam.config.id,
        source=redact_url(cam.config.source),
        state=_STATES[status.state],
        status_message=cam.status_message(),
        fps=stats.fps,
        bitrate_bps=stats.bitrate_bps,
        buffered_duration=to_duration(stats.buffered_seconds),
        buffered_bytes=stats.buffered_bytes,
        gop_count=stats.gop_count,
        buffer_limit=to_duration(cam.config.buffer_seconds),
        buffer_limit_bytes=cam.config.buffer_bytes,
        reconnects=status.reconnects,
    )
    if (codec := cam.ring.current_codec) is not None:
        message.codec.CopyFrom(codec_message(codec))
    if stats.oldest_time is not None and stats.newest_time is not None:
        message.oldest_time.CopyFrom(to_timestamp(stats.oldest_time))
        message.newest_time.CopyFrom(to_timestamp(stats.newest_time))
    if status.last_packet_arrival is not None:
        message.last_packet_age.CopyFrom(to_duration(max(now - status.last_packet_arrival, 0.0)))
    return message


class BufferServicer(buffer_pb2_grpc.BufferServiceServicer):
    """gRPC face of a Buffer."""

    def __init__(self, buffer: Buffer, *, cut_output_dir: Path | None = None) -> None:
        """``cut_output_dir``: the clips staging directory as this process sees
        it; CutWindow writes into a clipper's staging file only under it."""
        self.buffer = buffer
        self._cuts = asyncio.Semaphore(MAX_CONCURRENT_CUTS)
        self._cut_output_dir = cut_output_dir

    @grpc_method
    async def ListCameras(
        self, request: buffer_pb2.ListCamerasRequest, context: grpc.aio.ServicerContext
    ) -> buffer_pb2.ListCamerasResponse:
        """Every configured camera with its status, in configuration order."""
        now = time.time()
        return buffer_pb2.ListCamerasResponse(
            cameras=[camera_message(c, now) for c in self.buffer.cameras.values()]
        )

    @grpc_method
    async def GetCamera(
        self, request: buffer_pb2.GetCameraRequest, context: grpc.aio.ServicerContext
    ) -> buffer_pb2.Camera:
        """One camera; NOT_FOUND for an unknown id."""
        return camera_message(self.buffer.camera(request.id), time.time())

    @grpc_method
    async def GetSnapshot(
        self, request: buffer_pb2.GetSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> buffer_pb2.Snapshot:
        """The newest keyframe as a JPEG; see Buffer.snapshot."""
        picture = await self.buffer.snapshot(request.camera_id, request.max_width)
        return buffer_pb2.Snapshot(
            camera_id=request.camera_id,
            jpeg=picture.jpeg,
            width=picture.width,
            height=picture.height,
            frame_time=to_timestamp(picture.frame_time),
            source_width=picture.source_width,
            source_height=picture.source_height,
        )

    @grpc_method
    async def SampleFrames(
        self, request: buffer_pb2.SampleFramesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[buffer_pb2.Frame]:
        """Decoded frames about ``fps`` a second; see Buffer.sample_frames.
        Each yield waits for the caller to take the frame (flow control), and
        the sampler skips ahead meanwhile."""
        frames = self.buffer.sample_frames(request.camera_id, request.fps, request.max_width)
        async with contextlib.aclosing(frames):
            async for frame in frames:
                height, width, _ = frame.rgb.shape
                yield buffer_pb2.Frame(
                    camera_id=request.camera_id,
                    frame_time=to_timestamp(frame.wall_time),
                    width=width,
                    height=height,
                    rgb=frame.rgb.tobytes(),
                    source_width=frame.source_width,
                    source_height=frame.source_height,
                    keyframe=frame.keyframe,
                )

    @grpc_method
    async def ReadWindow(
        self, request: buffer_pb2.ReadWindowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[buffer_pb2.ReadWindowResponse]:
        """Codec parameters, then PacketBatch messages; see Buffer.read_window.
        The caller's deadline or cancellation cancels the follow.

        Served as mounted by ``add_buffer_servicer`` (as ``start`` does), the
        batches go out as ``read_window_serialized`` encodes them. Mounted with
        the generated ``add_BufferServiceServicer_to_server`` they are parsed
        back into messages here first: the same bytes on the wire, more CPU."""
        async for reply in self._replies(request):
            if isinstance(reply, bytes):
                reply = buffer_pb2.ReadWindowResponse.FromString(reply)
            yield reply

    @grpc_method
    async def read_window_serialized(
        self, request: buffer_pb2.ReadWindowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[buffer_pb2.ReadWindowResponse | bytes]:
        """ReadWindow with its packet batches already serialized
        (``encode_packet_batch``), for a handler whose serializer passes bytes on."""
        async for reply in self._replies(request):
            yield reply

    @grpc_method
    async def CutWindow(
        self, request: buffer_pb2.CutWindowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[buffer_pb2.CutWindowResponse]:
        """A CutWindowHeader, then the MP4's bytes in chunks of at most 1 MiB,
        or, when ``output_file`` can be opened here (``open_output_file``), the
        MP4 written there and one CutWindowWritten; see Buffer.cut_window.
        INVALID_ARGUMENT when event_time is missing."""
        if not request.HasField("event_time"):
            raise InvalidArgument("event_time is required")
        event = from_timestamp(request.event_time)
        # Each cut holds its window (and its head) in memory until it is sent or
        # written: bound how many at once.
        async with self._cuts:
            cut = await self.buffer.cut_window(
                request.camera_id,
                timestamp_seconds(request.start_time) if request.HasField("start_time") else None,
                timestamp_seconds(request.end_time) if request.HasField("end_time") else None,
                event=event,
                exact_start=request.exact_start,
            )
            fd = None
            if request.output_file and self._cut_output_dir is not None:
                fd = open_output_file(request.output_file, self._cut_output_dir)
            if fd is None:
                yield buffer_pb2.CutWindowResponse(header=cut.header(event))
                for chunk in cut.chunks():
                    yield buffer_pb2.CutWindowResponse(mp4=chunk)
                return
            # The file is written while the header travels (~6 ms for 60 s).
            writing = asyncio.ensure_future(asyncio.to_thread(cut.write_to, fd))
            try:
                header = await asyncio.to_thread(cut.header, event)
                yield buffer_pb2.CutWindowResponse(header=header)
                try:
                    sha256 = await asyncio.shield(writing)
                except OSError as err:  # the clipper's disk (full, failing): its to retry
                    raise Unavailable(
                        f"cannot write the cut into {request.output_file}: {err.strerror}"
                    ) from None
            finally:
                # A thread cannot be stopped: a cancelled call still waits for
                # it, so its descriptor is closed before the clipper cleans up.
                await asyncio.wait([writing])
                if not writing.cancelled():
                    writing.exception()  # retrieved: raised above or moot after a cancel
            yield buffer_pb2.CutWindowResponse(
                written=buffer_pb2.CutWindowWritten(sha256=sha256, size_bytes=cut.result.size_bytes)
            )

    async def _replies(
        self, request: buffer_pb2.ReadWindowRequest
    ) -> AsyncIterator[buffer_pb2.ReadWindowResponse | bytes]:
        start = timestamp_seconds(request.start_time) if request.HasField("start_time") else None
        end = timestamp_seconds(request.end_time) if request.HasField("end_time") else None
        async for item in self.buffer.read_window(request.camera_id, start, end):
            if isinstance(item, CodecParams):
                yield buffer_pb2.ReadWindowResponse(codec=codec_message(item))
            else:
                yield encode_packet_batch(item)


def _serialize_reply(reply: buffer_pb2.ReadWindowResponse | bytes) -> bytes:
    return reply if isinstance(reply, bytes) else reply.SerializeToString()


def add_buffer_servicer(servicer: BufferServicer, server: grpc.aio.Server) -> None:
    """``add_BufferServiceServicer_to_server``, except that ReadWindow is served
    by ``servicer.read_window_serialized``, whose packet batches are already
    serialized: no message is built per packet."""

    class _Handlers:
        def add_generic_rpc_handlers(self, handlers: object) -> None:
            pass

        def add_registered_method_handlers(self, name: str, handlers: dict) -> None:
            self.name, self.handlers = name, handlers

    generated = _Handlers()
    buffer_pb2_grpc.add_BufferServiceServicer_to_server(servicer, generated)
    handlers = dict(generated.handlers)
    handlers["ReadWindow"] = handlers["ReadWindow"]._replace(
        unary_stream=servicer.read_window_serialized, response_serializer=_serialize_reply
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(generated.name, handlers),)
    )
    server.add_registered_method_handlers(generated.name, handlers)


@dataclass
class RunningBuffer:
    """The started buffer service (eventclip.rpc.RunningService)."""

    server: grpc.aio.Server
    buffer: Buffer
    port: int
    name: str = "buffer"

    async def stop(self, grace: float) -> None:
        """Drain RPCs for up to ``grace`` s, then stop and join the ingest threads."""
        await self.server.stop(grace)
        await self.buffer.stop_ingest()


async def start(
    settings: Settings, *, buffer: Buffer | None = None, ingest: bool = True
) -> RunningBuffer:
    """Serve BufferService on ``settings.services.buffer.bind`` and start
    ingesting every configured camera. ``buffer``: a prepared Buffer (tests use
    it for short timeouts); by default one built from ``settings``.
    ``ingest=False`` serves only what is put into the rings (benchmarks)."""
    if buffer is None:
        buffer = Buffer(settings.cameras, max_window_seconds=settings.clips.max_seconds)
    server, port = await start_server(
        settings.services.buffer.bind,
        [
            Registration(
                add_buffer_servicer,
                BufferServicer(buffer, cut_output_dir=settings.clips_staging_dir),
                "eventclip.v1.BufferService",
            )
        ],
        tls=settings.tls,
    )
    if ingest:
        buffer.start_ingest()
    log.info("buffer listening on port %d with %d camera(s)", port, len(buffer.cameras))
    return RunningBuffer(server, buffer, port)
