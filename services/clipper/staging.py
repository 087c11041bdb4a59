"""What a clip job has received, kept on disk so a stop or crash loses nothing.

While a job follows a camera live, every ReadWindow reply it gets is appended
to a *window log*: ``<data_dir>/staged-windows/<clip id>.window``, a sequence
of records, each a 4-byte big-endian length and a serialized
``eventclip.v1.ReadWindowResponse`` (the same length-prefixed framing gRPC uses
on the wire). After a stop, a crash or a retry the job replays the log and asks
the buffer only for what comes after its last packet (``ResumePoint``), so the
clip still holds the video of the time the clipper was down when the buffer
has it, and says what is missing when it does not.

The log is written through the page cache (a crash of the process loses
nothing; ``flush(durable=True)`` at a stop also survives a power cut) and is
deleted when the clip is finished. A torn last record (a crash mid-append) is
dropped when the log is read.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

from eventclip.media.timelines import wall_seconds
from eventclip.v1 import buffer_pb2

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
SUFFIX = ".window"


class WindowLog:
    """The window log of one clip at ``path`` (created on the first append)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def read(self) -> list[buffer_pb2.ReadWindowResponse]:
        """Every whole record in the log, in order ([] when there is none)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        replies = []
        offset = 0
        while offset + _LENGTH.size <= len(data):
            (size,) = _LENGTH.unpack_from(data, offset)
            body = data[offset + _LENGTH.size : offset + _LENGTH.size + size]
            if len(body) < size:
                break
            try:
                replies.append(buffer_pb2.ReadWindowResponse.FromString(body))
            except DecodeError:
                break
            offset += _LENGTH.size + size
        if offset < len(data):
            log.warning("%s: dropped a torn record at byte %d", self.path.name, offset)
            with open(self.path, "r+b") as f:  # later appends must follow a whole record
                f.truncate(offset)
        return replies

    def append(self, response: buffer_pb2.ReadWindowResponse) -> None:
        """Append one reply (buffered; see flush)."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")
        body = response.SerializeToString()
        self._file.write(_LENGTH.pack(len(body)))
        self._file.write(body)

    def flush(self, *, durable: bool = False) -> None:
        """Hand what was appended to the OS (a process crash then loses nothing);
        ``durable``: fsync it too (survives a power cut)."""
        if self._file is not None:
            self._file.flush()
            if durable:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        """Close and delete the log (the clip is finished)."""
        self.close()
        self.path.unlink(missing_ok=True)


class WindowLogs:
    """The window logs of this clipper, one per unfinished clip, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def for_clip(self, clip_id: str) -> WindowLog:
        return WindowLog(self.root / f"{clip_id}{SUFFIX}")

    def clip_ids(self) -> list[str]:
        """Clips that have a log on disk."""
        if not self.root.is_dir():
            return []
        return sorted(p.name.removesuffix(SUFFIX) for p in self.root.glob(f"*{SUFFIX}"))

    def remove_except(self, keep: set[str]) -> list[str]:
        """Delete the logs of clips not in ``keep`` (finished or unknown clips,
        at start-up); returns their ids."""
        removed = [clip_id for clip_id in self.clip_ids() if clip_id not in keep]
        for clip_id in removed:
            self.for_clip(clip_id).remove()
        return removed


@dataclass(frozen=True)
class ResumePoint:
    """The last packet a job already has: where a continued read picks up.

    ``wall_time``: its wall-clock time (epoch seconds), the start of the next
    ReadWindow (the buffer starts at the keyframe at or before it, so the
    continuation overlaps and ``skip`` drops what is already held).
    """

    timeline_id: int
    dts: int
    wall_time: float

    @classmethod
    def after(cls, replies: list[buffer_pb2.ReadWindowResponse]) -> ResumePoint | None:
        """The point after the last packet of ``replies`` (None: no packet)."""
        timeline_id: int | None = None
        last: ResumePoint | None = None
        for reply in replies:
            if reply.HasField("codec"):
                timeline_id = reply.codec.timeline_id
            elif reply.packets.packets and timeline_id is not None:
                p = reply.packets.packets[-1]
                last = cls(timeline_id, p.dts, wall_seconds(p))
        return last

    def skip(
        self, reply: buffer_pb2.ReadWindowResponse, timeline_id: int | None
    ) -> buffer_pb2.ReadWindowResponse | None:
        """``reply`` without what the job already holds, or None when nothing is
        left. ``timeline_id``: the timeline of the continuation's current
        codec message (a repeat of the held timeline's codec is dropped)."""
        if reply.HasField("codec"):
            return None if reply.codec.timeline_id == self.timeline_id else reply
        if timeline_id != self.timeline_id:
            return reply
        fresh = [p for p in reply.packets.packets if p.dts > self.dts]
        if len(fresh) == len(reply.packets.packets):
            return reply
        if not fresh:
            return None
        return buffer_pb2.ReadWindowResponse(packets=buffer_pb2.PacketBatch(packets=fresh))
