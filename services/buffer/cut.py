"""Cutting a past window into an MP4 where its packets are: in the buffer.

A window that is wholly buffered when its clip job starts needs no live follow,
so the buffer muxes it itself (``eventclip.media.mp4``, into memory) and sends
the finished file instead of its packets: the 60 s 1080p window's 30 MB then
crosses gRPC as ~30 plain byte chunks, not ~900 packet messages that the
clipper parses, groups and muxes. The clipper still needs to know which frames
the file holds (its coverage and sidecar are measured on them, never on the
buffer's word), so the header carries every packet's timestamps without data,
and the keyframe for the thumbnail with its data.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.wire import codec_message, packet_fields, varint
from eventclip.media.mp4 import RemuxResult, media_message, remux_to_mp4
from eventclip.media.timelines import Timeline, nearest_keyframe
from eventclip.v1 import buffer_pb2

#: Most MP4 bytes in one CutWindowResponse (the contract says <= 1 MiB).
MP4_CHUNK_BYTES = 1024 * 1024

# Wire tags of TimelineIndex: codec = 1, packets = 2 (length-delimited).
_INDEX_CODEC = b"\x0a"
_INDEX_PACKET = b"\x12"


@dataclass(frozen=True)
class CutWindow:
    """A window cut into an MP4: ``mp4`` its bytes, ``result`` what it holds,
    ``timelines`` the window's ring packets by timeline (wire codec parameters)."""

    mp4: io.BytesIO
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
        with self.mp4.getbuffer() as view:
            for offset in range(0, view.nbytes, MP4_CHUNK_BYTES):
                yield bytes(view[offset : offset + MP4_CHUNK_BYTES])


def cut_window(
    window: Sequence[CodecParams | list[BufferedPacket]],
    *,
    start_time: datetime,
    event_time: datetime,
    exact_start: bool,
) -> CutWindow:
    """Mux ``window`` (what ``Buffer.read_window`` yields: codec parameters,
    then packet lists) into an in-memory MP4 with ``remux_to_mp4``, as the
    clipper would from the same packets over ReadWindow. Times are UTC.
    Blocking (FFmpeg): run it in a worker thread. Raises RemuxError."""
    timelines: list[Timeline] = []
    for item in window:
        if isinstance(item, CodecParams):
            timelines.append(Timeline(codec_message(item)))
        else:
            timelines[-1].packets.extend(item)
    mp4 = io.BytesIO()
    result = remux_to_mp4(
        timelines, mp4, start_time=start_time, event_time=event_time, exact_start=exact_start
    )
    return CutWindow(mp4, result, timelines)


def _encode_index(codec: buffer_pb2.CodecParameters, packets: Sequence[BufferedPacket]) -> bytes:
    """A serialized TimelineIndex: the codec, then each packet without data
    (its fields serialized as ReadWindow's wire encoder does)."""
    encoded = codec.SerializeToString()
    parts = [_INDEX_CODEC, varint(len(encoded)), encoded]
    for packet in packets:
        fields = packet_fields(packet)
        parts += (_INDEX_PACKET, varint(len(fields)), fields)
    return b"".join(parts)
