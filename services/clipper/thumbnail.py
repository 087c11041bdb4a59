"""The clip's thumbnail: one keyframe decoded, letterboxed to 320x240, JPEG.

Only the keyframe nearest the event time is decoded (one packet fed to a decoder
built from the timeline's codec parameters and extradata), so the cost does not
grow with the window. The picture is scaled to fit 320x240 keeping its aspect
ratio, padded with black bars to exactly 320x240 (every thumbnail in a list has
the same box), and encoded by FFmpeg's ``mjpeg`` encoder in full-range
``yuvj420p`` (JFIF), so no imaging library is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import av
import numpy as np

from eventclip.media import pictures
from eventclip.media.pictures import PictureError
from eventclip.media.timelines import Timeline, wall_seconds
from eventclip.media.timelines import nearest_keyframe as keyframe_nearest
from eventclip.v1 import buffer_pb2

WIDTH, HEIGHT = 320, 240
#: Full-range (JPEG) black in YUV.
_BLACK_Y, _BLACK_C = 0, 128


class ThumbnailError(PictureError):
    """No keyframe to decode, or the keyframe does not decode."""


@dataclass(frozen=True)
class Thumbnail:
    """A JPEG of exactly ``width`` x ``height``; ``keyframe_time`` is the wall
    clock of the keyframe shown."""

    jpeg: bytes
    width: int
    height: int
    keyframe_time: datetime


def nearest_keyframe(
    timelines: Sequence[Timeline], event_time: datetime
) -> tuple[Timeline, buffer_pb2.Packet]:
    """``eventclip.media.timelines.nearest_keyframe``; raises ThumbnailError
    when the window holds no keyframe."""
    found = keyframe_nearest(timelines, event_time)
    if found is None:
        raise ThumbnailError("the window holds no keyframe")
    return found


def decode_keyframe(codec: buffer_pb2.CodecParameters, packet: buffer_pb2.Packet) -> av.VideoFrame:
    """Decode one keyframe packet with a decoder configured from ``codec``.
    Raises ThumbnailError."""
    try:
        return pictures.decode_keyframe(codec.codec_name, codec.extradata, packet.data)
    except PictureError as err:
        raise ThumbnailError(str(err)) from err


def letterbox(frame: av.VideoFrame, box_w: int = WIDTH, box_h: int = HEIGHT) -> av.VideoFrame:
    """Scale ``frame`` to fit the box (aspect ratio kept) and pad it with black
    bars to exactly ``box_w`` x ``box_h``; returns a full-range yuvj420p frame."""
    w, h = pictures.fit_inside(frame.width, frame.height, box_w, box_h)
    scaled = frame.reformat(width=w, height=h, format="yuvj420p", interpolation="AREA")
    y_plane = np.full((box_h, box_w), _BLACK_Y, np.uint8)
    u_plane = np.full((box_h // 2, box_w // 2), _BLACK_C, np.uint8)
    v_plane = np.full((box_h // 2, box_w // 2), _BLACK_C, np.uint8)
    planar = scaled.to_ndarray()  # (h * 3 / 2, w): Y rows, then U and V quarter planes
    top, left = (box_h - h) // 2 // 2 * 2, (box_w - w) // 2 // 2 * 2  # even: chroma aligned
    y_plane[top : top + h, left : left + w] = planar[:h]
    chroma = planar[h:].reshape(2, h // 2, w // 2)
    u_plane[top // 2 : top // 2 + h // 2, left // 2 : left // 2 + w // 2] = chroma[0]
    v_plane[top // 2 : top // 2 + h // 2, left // 2 : left // 2 + w // 2] = chroma[1]
    packed = np.concatenate([y_plane.ravel(), u_plane.ravel(), v_plane.ravel()])
    return av.VideoFrame.from_ndarray(packed.reshape(box_h * 3 // 2, box_w), format="yuvj420p")


def make_thumbnail(timelines: Sequence[Timeline], event_time: datetime) -> Thumbnail:
    """Thumbnail of the keyframe nearest ``event_time`` in the window.
    Raises ThumbnailError when no keyframe decodes."""
    timeline, packet = nearest_keyframe(timelines, event_time)
    return keyframe_thumbnail(timeline.codec, packet)


def keyframe_thumbnail(codec: buffer_pb2.CodecParameters, packet: buffer_pb2.Packet) -> Thumbnail:
    """Thumbnail of one keyframe ``packet`` of a timeline with ``codec``.
    Raises ThumbnailError when it does not decode."""
    picture = letterbox(decode_keyframe(codec, packet))
    return Thumbnail(
        jpeg=pictures.encode_jpeg(picture),
        width=picture.width,
        height=picture.height,
        keyframe_time=datetime.fromtimestamp(wall_seconds(packet), UTC),
    )
