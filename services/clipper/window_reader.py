"""The clip job's client of ``BufferService.ReadWindow`` and ``CutWindow``.

A window is read with a deadline of the post-roll still to come plus a margin,
so a live follow never outlives the clip it serves. Buffer answers that no retry
can change become ``FinalFailure``; everything else stays an ``AioRpcError``
for the job's retry policy to judge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import grpc

from eventclip.media.mp4 import RemuxResult, remux_result
from eventclip.media.timelines import Timeline
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

#: Buffer answers that no retry can change.
FINAL_CODES = frozenset(
    {
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)
#: ReadWindow deadline beyond the post-roll still to come, seconds.
READ_WINDOW_MARGIN_SECONDS = 30.0
#: CutWindow deadline, seconds (the window is buffered: muxing and sending it).
CUT_WINDOW_TIMEOUT_SECONDS = 30.0


class FinalFailure(Exception):
    """The buffer cannot serve this window, and retrying will not change that."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class WindowSource(Protocol):
    """What a clip job reads its window from: ``WindowReader``, or
    ``eventclip.clipper.shared_reads.SharedWindowReader`` (same replies)."""

    def read(
        self, camera_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[buffer_pb2.ReadWindowResponse]: ...


class WindowReader:
    """Reads clip windows from the buffer at the other end of ``channel``, or
    has the buffer cut them (``cut``).

    ``clock``: the wall clock (UTC), used for the deadline.
    """

    def __init__(self, channel: grpc.aio.Channel, clock: Callable[[], datetime]) -> None:
        self._stub = buffer_pb2_grpc.BufferServiceStub(channel)
        self._clock = clock

    async def read(
        self, camera_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[buffer_pb2.ReadWindowResponse]:
        """Yield the ReadWindow replies of ``camera_id`` for [start, end] as they
        arrive (codec parameters, then packet batches; live until ``end``).

        Raises FinalFailure (FAILED_PRECONDITION, NOT_FOUND, INVALID_ARGUMENT
        from the buffer) and grpc.aio.AioRpcError for anything else.
        """
        request = buffer_pb2.ReadWindowRequest(
            camera_id=camera_id, start_time=to_timestamp(start), end_time=to_timestamp(end)
        )
        still_to_come = max(0.0, (end - self._clock()).total_seconds())
        try:
            call = self._stub.ReadWindow(
                request, timeout=still_to_come + READ_WINDOW_MARGIN_SECONDS
            )
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as err:
            if err.code() in FINAL_CODES:
                raise FinalFailure(
                    f"buffer ReadWindow: {err.code().name}: {err.details()}", err.code()
                ) from err
            raise

    async def cut(
        self,
        camera_id: str,
        start: datetime,
        end: datetime,
        event: datetime,
        exact_start: bool,
        output_file: Path | None = None,
    ) -> BufferCut:
        """Ask the buffer to cut [start, end] of ``camera_id`` (a window it
        holds whole; see ``BufferService.CutWindow``) with the EXACT trim when
        ``exact_start``. ``output_file``: an empty file in the clips staging
        directory the buffer may write the MP4 into. Returns once the header
        has arrived; the MP4's bytes follow through ``BufferCut.chunks`` (none
        when the buffer wrote ``output_file``: ``BufferCut.written`` says so
        once they are consumed). Raises grpc.aio.AioRpcError (from either), the
        buffer's status as it is: the job then reads the window."""
        request = buffer_pb2.CutWindowRequest(
            camera_id=camera_id,
            start_time=to_timestamp(start),
            end_time=to_timestamp(end),
            event_time=to_timestamp(event),
            exact_start=exact_start,
            output_file=str(output_file) if output_file is not None else "",
        )
        call = self._stub.CutWindow(request, timeout=CUT_WINDOW_TIMEOUT_SECONDS)
        replies = aiter(call)
        first = await anext(replies)

        async def chunks() -> AsyncIterator[bytes]:
            async for reply in replies:
                if reply.HasField("written"):
                    cut.written = reply.written
                else:
                    yield reply.mp4

        cut = buffer_cut(first.header, chunks())
        return cut


@dataclass
class BufferCut:
    """A window the buffer cut into an MP4 (``BufferService.CutWindow``).

    ``timelines``: the window's packets by timeline, without data (what
    coverage and the sidecar are measured on). ``result``: what the MP4 holds.
    ``thumbnail``: the keyframe nearest the event with its data and its
    timeline's codec parameters, None when there is none. ``chunks``: the MP4's
    bytes in file order (``result.size_bytes`` in all), or none when the buffer
    wrote the file itself: then ``written`` is set once they are consumed.
    """

    timelines: list[Timeline]
    result: RemuxResult
    thumbnail: tuple[buffer_pb2.CodecParameters, buffer_pb2.Packet] | None
    chunks: AsyncIterator[bytes] = field(repr=False)
    written: buffer_pb2.CutWindowWritten | None = None


class WindowCutter(Protocol):
    """What a clip job asks to cut a past window: ``WindowReader``."""

    async def cut(
        self,
        camera_id: str,
        start: datetime,
        end: datetime,
        event: datetime,
        exact_start: bool,
        output_file: Path | None = None,
    ) -> BufferCut: ...


def buffer_cut(header: buffer_pb2.CutWindowHeader, chunks: AsyncIterator[bytes]) -> BufferCut:
    """A BufferCut from CutWindow's header and the rest of its replies."""
    timelines = [Timeline(t.codec, list(t.packets)) for t in header.timelines]
    thumbnail = None
    if header.HasField("thumbnail_keyframe"):
        codec = next(
            (t.codec for t in timelines if t.codec.timeline_id == header.thumbnail_timeline_id),
            None,
        )
        if codec is not None:
            thumbnail = (codec, header.thumbnail_keyframe)
    return BufferCut(timelines, remux_result(header.media), thumbnail, chunks)
