"""Cutting a past window into an MP4 where its packets are: in the buffer.

A window that is wholly buffered when its clip job starts needs no live follow,
so the buffer cuts it itself: ``plan_mp4`` lays the file out from the ring's
packets without copying them (``eventclip.media.mp4_boxes``; FFmpeg's muxer
into memory when the stream needs it). The file then goes to the clipper one
of two ways:

* written by the buffer into the clipper's staging file, when the clipper
  names one the buffer can open (same host or a shared volume; see
  ``open_output_file``): the bytes are hashed while they are written and
  flushed to disk, and only the SHA-256 crosses gRPC. No copy of the 30 MB of a
  60 s 1080p window goes through a socket;
* otherwise streamed as plain byte chunks, which the clipper writes and hashes.

The clipper still needs to know which frames the file holds (its coverage and
sidecar are measured on them, never on the buffer's word), so the header
carries every packet's timestamps without data, and the keyframe for the
thumbnail with its data.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.wire import codec_message, packet_fields, varint
from eventclip.direct_write import write_durably
from eventclip.media.mp4 import RemuxResult, media_message, plan_mp4, remux_to_mp4
from eventclip.media.mp4_boxes import Unsupported
from eventclip.media.timelines import Timeline, nearest_keyframe
from eventclip.v1 import buffer_pb2

#: Most MP4 bytes in one CutWindowResponse (the contract says <= 1 MiB).
MP4_CHUNK_BYTES = 1024 * 1024

# Wire tags of TimelineIndex: codec = 1, packets = 2 (length-delimited).
_INDEX_CODEC = b"\x0a"
_INDEX_PACKET = b"\x12"


@dataclass(frozen=True)
class CutWindow:
    """A window cut into an MP4: ``buffers`` its bytes in file order (views of
    the ring's packets, not copies), ``result`` what it holds, ``timelines``
    the window's ring packets by timeline (wire codec parameters)."""

    buffers: list[bytes | memoryview]
    result: RemuxResult
    timelines: list[Timeline]

    def header(self, event_time: datetime) -> buffer_pb2.CutWindowHeader:
        """The CutWindowHeader: the packet index, the media facts and the
        keyframe nearest ``event_time`` (UTC) with its data."""
        header = buffer_pb2.CutWindowHeader(
            timelines=[
                buffer_pb2.TimelineIndex.FromString(_encode_index(t.codec, t.packets))
                for t in self.timelines
            ],
            media=media_message(self.result),
        )
        if (found := nearest_keyframe(self.timelines, event_time)) is not None:
            timeline, packet = found
            header.thumbnail_keyframe.ParseFromString(packet_fields(packet))
            header.thumbnail_keyframe.data = packet.data
            header.thumbnail_timeline_id = timeline.codec.timeline_id
        return header

    def chunks(self) -> Iterator[bytes]:
        """The MP4's bytes in order, at most MP4_CHUNK_BYTES each."""
        pending: list[bytes | memoryview] = []
        size = 0
        for buffer in self.buffers:
            view = memoryview(buffer)
            while view.nbytes:
                take = view[: MP4_CHUNK_BYTES - size]
                pending.append(take)
                size += take.nbytes
                view = view[take.nbytes :]
                if size == MP4_CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def write_to(self, fd: int) -> str:
        """Write the MP4 into the open file ``fd`` (from its start) straight to
        disk, hashing it on the way (``eventclip.direct_write``); returns the
        SHA-256 (lowercase hex). Closes ``fd``. Blocking: run it in a worker
        thread. Raises OSError."""
        try:
            return write_durably(fd, self.buffers, self.result.size_bytes).sha256
        finally:
            os.close(fd)


def cut_window(
    window: Sequence[CodecParams | list[BufferedPacket]],
    *,
    start_time: datetime,
    event_time: datetime,
    exact_start: bool,
) -> CutWindow:
    """Cut ``window`` (what ``Buffer.read_window`` yields: codec parameters,
    then packet lists) into an MP4 holding the same frames, timestamps and trim
    as the clipper's ``remux_to_mp4`` of the same packets over ReadWindow: laid
    out by ``plan_mp4``, or muxed into memory by FFmpeg when the stream needs
    it (``Unsupported``). Times are UTC. Blocking: run it in a worker thread.
    Raises RemuxError."""
    timelines: list[Timeline] = []
    for item in window:
        if isinstance(item, CodecParams):
            timelines.append(Timeline(codec_message(item)))
        else:
            timelines[-1].packets.extend(item)
    try:
        result, layout = plan_mp4(
            timelines, start_time=start_time, event_time=event_time, exact_start=exact_start
        )
        return CutWindow(list(layout.buffers()), result, timelines)
    except Unsupported:
        mp4 = io.BytesIO()
        result = remux_to_mp4(
            timelines, mp4, start_time=start_time, event_time=event_time, exact_start=exact_start
        )
        return CutWindow([mp4.getvalue()], result, timelines)


def open_output_file(path: str, staging_dir: Path) -> int | None:
    """A descriptor open for writing on the clipper's staging file ``path``, or
    None when the buffer cannot write the cut there (then it streams it).

    The clipper creates the file, empty, under its staging directory; the buffer
    writes only into an existing, empty, regular file that resolves to a place
    inside ``staging_dir`` (its own view of that directory, from the shared
    configuration) and is not reached through a symlink. A path that does not
    exist here (another host, another volume) is the normal "stream it" case:
    the handshake never writes a file the clipper did not make."""
    try:
        root = staging_dir.resolve(strict=True)
        target = Path(path)
        if not target.is_absolute() or target.resolve(strict=True).parent != root:
            return None
        fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size != 0:
        os.close(fd)
        return None
    return fd


def _encode_index(codec: buffer_pb2.CodecParameters, packets: Sequence[BufferedPacket]) -> bytes:
    """A serialized TimelineIndex: the codec, then each packet without data
    (its fields serialized as ReadWindow's wire encoder does)."""
    encoded = codec.SerializeToString()
    parts = [_INDEX_CODEC, varint(len(encoded)), encoded]
    for packet in packets:
        fields = packet_fields(packet)
        parts += (_INDEX_PACKET, varint(len(fields)), fields)
    return b"".join(parts)
