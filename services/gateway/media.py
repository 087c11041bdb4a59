"""Clip video/thumbnail/sidecar over HTTP: byte ranges (RFC 9110 section 14)
streamed from ClipService.ReadClipMedia without holding the file in memory;
the evidence package streamed from ClipService.ExportEvidence."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from eventclip.gateway.backends import UNARY_TIMEOUT_SECONDS
from eventclip.gateway.errors import ApiError, backend_errors
from eventclip.v1 import clips_pb2, clips_pb2_grpc

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)

_DEFAULT_CONTENT_TYPE = {
    clips_pb2.ReadClipMediaRequest.VIDEO: "video/mp4",
    clips_pb2.ReadClipMediaRequest.THUMBNAIL: "image/jpeg",
    clips_pb2.ReadClipMediaRequest.METADATA: "application/json",
}
_EXTENSION = {
    clips_pb2.ReadClipMediaRequest.VIDEO: "mp4",
    clips_pb2.ReadClipMediaRequest.THUMBNAIL: "jpg",
    clips_pb2.ReadClipMediaRequest.METADATA: "json",
}


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start``..``end`` of a representation, both inclusive (as in HTTP)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(Exception):
    """A valid Range header no byte of the representation satisfies (HTTP 416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range ``header`` asks of a ``size``-byte representation.

    Forms: ``bytes=a-b``, ``bytes=a-`` (to the end), ``bytes=-n`` (last n bytes);
    ``b`` past the end is clamped to the last byte. Returns None (serve the whole
    body with 200) when there is no header or one RFC 9110 section 14.2 lets a
    server ignore: another unit, several ranges, bad syntax, ``a > b``.
    Raises RangeNotSatisfiable when ``a`` is at or past the end, or for ``-0``.
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, min(end, size - 1))


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match / If-Range comparison (weak comparison, RFC 9110 8.8.3.2)."""
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def _size_and_digest(
    clip: clips_pb2.Clip, kind: clips_pb2.ReadClipMediaRequest.Kind.ValueType
) -> tuple[int, str]:
    if kind == clips_pb2.ReadClipMediaRequest.VIDEO:
        return clip.size_bytes, clip.sha256
    if kind == clips_pb2.ReadClipMediaRequest.THUMBNAIL:
        return clip.thumbnail_size_bytes, clip.thumbnail_sha256
    return clip.metadata_size_bytes, clip.metadata_sha256


async def _first_message(call: grpc.aio.UnaryStreamCall, clip_id: str) -> Any:
    """The first reply of a media stream, read before answering so that a
    refusal becomes its HTTP status instead of a truncated 200."""
    with backend_errors("clipper", out_of_range_http=416):
        first = await call.read()
    if first is grpc.aio.EOF:
        call.cancel()
        raise ApiError(500, "INTERNAL", f"clipper sent nothing for {clip_id}")
    return first


async def media_response(
    clips: clips_pb2_grpc.ClipServiceStub,
    clip_id: str,
    kind: clips_pb2.ReadClipMediaRequest.Kind.ValueType,
    request: Request,
    *,
    download: bool = False,
) -> Response:
    """The clip's video (MP4), thumbnail (JPEG) or sidecar (JSON) as an HTTP
    response; ``download`` asks for an attachment (audited as "downloaded").

    200 with the whole body, or 206 with Content-Range for a Range request; 304
    when If-None-Match holds the ETag (the file's SHA-256, strong: same bytes,
    same tag); If-Range with another ETag serves the whole body. Errors: 404
    unknown clip or file, 410 media deleted by retention, 412 no media yet (or
    FAILED without media), 416 unsatisfiable range (Content-Range ``bytes */size``),
    503/504 clipper down or slow. The bytes are streamed through as
    ReadClipMedia yields them (chunks of at most 1 MiB).
    """
    with backend_errors("clipper"):
        clip = await clips.GetClip(
            clips_pb2.GetClipRequest(id=clip_id), timeout=UNARY_TIMEOUT_SECONDS
        )
    if clip.state == clips_pb2.Clip.DELETED:
        deleted = clip.delete_time.ToJsonString() if clip.HasField("delete_time") else "?"
        raise ApiError(
            410,
            "NOT_FOUND",
            f"clip {clip_id}'s media was deleted by retention at {deleted}; its record "
            "and audit trail remain",
        )
    size, digest = _size_and_digest(clip, kind)
    if not size:
        # No such file (yet): the clipper says why (not READY, FAILED without
        # media, cancelled, no thumbnail).
        call = clips.ReadClipMedia(clips_pb2.ReadClipMediaRequest(clip_id=clip_id, kind=kind))
        await _first_message(call, clip_id)
        call.cancel()
        raise ApiError(412, "FAILED_PRECONDITION", f"clip {clip_id} has no such file yet")
    etag = f'"{digest}"'
    disposition = "attachment" if download else "inline"
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": f'{disposition}; filename="{clip_id}.{_EXTENSION[kind]}"',
    }
    if_none_match = request.headers.get("if-none-match")
    if digest and if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)

    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's partial copy is stale: send it all
    try:
        byte_range = parse_range(range_header, size)
    except RangeNotSatisfiable:
        raise ApiError(
            416,
            "OUT_OF_RANGE",
            f"range {range_header!r} is outside the {size} bytes of clip {clip_id}",
            headers={"Content-Range": f"bytes */{size}"},
        ) from None

    offset, length = (byte_range.start, byte_range.length) if byte_range else (0, 0)
    call = clips.ReadClipMedia(
        clips_pb2.ReadClipMediaRequest(
            clip_id=clip_id, kind=kind, offset=offset, length=length, download=download
        )
    )
    first = await _first_message(call, clip_id)
    if first.total_size and first.total_size != size:
        call.cancel()
        raise ApiError(
            500,
            "INTERNAL",
            f"clip {clip_id} is {first.total_size} bytes on disk but {size} in its record",
        )
    content_type = first.content_type or _DEFAULT_CONTENT_TYPE[kind]

    status = 200
    headers["Content-Length"] = str(size)
    if byte_range is not None:
        status = 206
        headers["Content-Range"] = byte_range.content_range(size)
        headers["Content-Length"] = str(byte_range.length)

    return StreamingResponse(
        _rest_of(call, first, clip_id),
        status_code=status,
        media_type=content_type,
        headers=headers,
    )


async def _rest_of(call: grpc.aio.UnaryStreamCall, first: Any, what: str) -> AsyncIterator[bytes]:
    """The data of ``first`` and of every later reply of ``call``."""
    try:
        if first.data:
            yield first.data
        while (message := await call.read()) is not grpc.aio.EOF:
            yield message.data
    except grpc.aio.AioRpcError as err:
        # Headers are gone already; dropping the connection short of
        # Content-Length (or the chunked end) is how HTTP tells the client the
        # body is cut.
        log.warning("%s stream broke: %s", what, err.details())
        raise
    finally:
        call.cancel()  # no-op when finished; stops the stream if the client left


async def evidence_response(clips: clips_pb2_grpc.ClipServiceStub, alert_id: str) -> Response:
    """The alert's signed evidence package (ZIP) as an attachment, streamed as
    ExportEvidence yields it. Errors: 404 unknown alert, 412 no READY clip,
    500 DATA_LOSS (a stored file changed: nothing is signed), 503/504."""
    call = clips.ExportEvidence(clips_pb2.ExportEvidenceRequest(alert_id=alert_id))
    first = await _first_message(call, f"alert {alert_id}")
    headers = {"Content-Disposition": f'attachment; filename="{first.file_name}"'}
    return StreamingResponse(
        _rest_of(call, first, f"evidence of alert {alert_id}"),
        media_type=first.content_type or "application/zip",
        headers=headers,
    )
