"""Camera snapshots: the newest keyframe of each camera as a JPEG, decoded
once per GOP and only when someone asks.

Ingest never decodes. The first GetSnapshot after a new GOP arrives decodes
its keyframe (one packet, a fresh decoder: ~10 ms for 1080p H.264 here) and
keeps the picture until the next GOP; each width asked for is scaled and
encoded once from it and kept too. A warm call only looks the JPEG up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import av

from eventclip.buffer.ring import BufferedPacket, CodecParams, PacketRing
from eventclip.errors import Unavailable
from eventclip.media import pictures
from eventclip.media.pictures import PictureError


@dataclass(frozen=True)
class Picture:
    """One JPEG of a keyframe: ``width`` x ``height`` scaled from the camera's
    ``source_width`` x ``source_height``; ``frame_time`` its wall clock (UTC)."""

    jpeg: bytes
    width: int
    height: int
    source_width: int
    source_height: int
    frame_time: datetime


@dataclass
class _Decoded:
    """The keyframe of one GOP (the ring's packet itself: a new GOP, or a new
    ring, is a new packet), decoded, and the JPEGs made from it by max_width."""

    keyframe: BufferedPacket
    frame: av.VideoFrame
    frame_time: datetime
    jpegs: dict[int, Picture] = field(default_factory=dict)


class Snapshots:
    """The snapshot cache of one camera (see the module)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self._decoded: _Decoded | None = None
        #: One decode at a time: callers arriving meanwhile share its result.
        self._lock = asyncio.Lock()

    async def newest(self, ring: PacketRing, max_width: int) -> Picture:
        """The newest keyframe in ``ring`` (the camera's) as a JPEG at most
        ``max_width`` wide (0: the camera's size). Raises Unavailable when
        nothing is buffered or the keyframe does not decode."""
        async with self._lock:
            found = ring.newest_keyframe()
            if found is None:
                raise Unavailable(f"camera {self.camera_id} has nothing buffered yet")
            _seq, keyframe = found
            decoded = self._decoded
            if decoded is None or decoded.keyframe is not keyframe:
                codec = ring.codec(keyframe.timeline_id)
                decoded = await asyncio.to_thread(_decode, codec, keyframe, self.camera_id)
                self._decoded = decoded
            picture = decoded.jpegs.get(max_width)
            if picture is None:
                picture = await asyncio.to_thread(_encode, decoded, max_width)
                decoded.jpegs[max_width] = picture
            return picture


def _decode(codec: CodecParams, keyframe: BufferedPacket, camera_id: str) -> _Decoded:
    try:
        frame = pictures.decode_keyframe(codec.codec_name, codec.extradata, keyframe.data)
    except PictureError as err:
        raise Unavailable(f"camera {camera_id}: {err}") from None
    return _Decoded(keyframe, frame, datetime.fromtimestamp(keyframe.wall_time, UTC))


def _encode(decoded: _Decoded, max_width: int) -> Picture:
    frame = decoded.frame
    picture = pictures.scaled(frame, max_width, "yuvj420p")
    return Picture(
        jpeg=pictures.encode_jpeg(picture),
        width=picture.width,
        height=picture.height,
        source_width=frame.width,
        source_height=frame.height,
        frame_time=decoded.frame_time,
    )
