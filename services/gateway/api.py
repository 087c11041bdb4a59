"""REST routes under /api/v1: proto3 JSON over the backends' gRPC methods."""

from __future__ import annotations

import hashlib
from datetime import UTC
from email.utils import format_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from eventclip import receipts
from eventclip.gateway.backends import UNARY_TIMEOUT_SECONDS, Backends
from eventclip.gateway.errors import ApiError, backend_errors
from eventclip.gateway.media import etag_matches, evidence_response, media_response
from eventclip.gateway.openapi import error_responses, json_content, schema_ref
from eventclip.gateway.protojson import parse, read_json, to_json
from eventclip.gateway.signed_urls import current_link_signer, media_links
from eventclip.timeutil import from_timestamp, to_duration, to_timestamp
from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2
from eventclip.validation import MAX_DURATION_SECONDS, MAX_ID_CHARS

PREFIX = "/api/v1"
#: OpenAPI component for a Clip plus its links (see clip_resource).
CLIP_RESOURCE = "ClipResource"

router = APIRouter(prefix=PREFIX, dependencies=[Depends(media_links)])


def _backends(request: Request) -> Backends:
    return request.app.state.backends


Clients = Annotated[Backends, Depends(_backends)]
PageSize = Annotated[
    int, Query(alias="pageSize", ge=0, le=1000, description="At most this many (0 = default 50)")
]
PageToken = Annotated[
    str, Query(alias="pageToken", description="nextPageToken of the previous page")
]


Download = Annotated[
    bool,
    Query(
        description="Save as a file: `Content-Disposition: attachment`, audited as "
        "`downloaded` (otherwise a read from byte 0 is audited as `viewed`)"
    ),
]

#: Links of a ClipResource.
CLIP_LINKS = ("self", "video", "thumbnail", "metadata", "audit")


async def clip_reply(call: Any) -> JSONResponse:
    """The ClipResource JSON of a clipper call that answers a Clip (errors mapped)."""
    with backend_errors("clipper"):
        clip = await call
    return JSONResponse(clip_resource(clip))


def clip_resource(clip: clips_pb2.Clip) -> dict[str, Any]:
    """A Clip in proto3 JSON plus ``links`` to itself, its media and sidecar (412
    until the clip has media, 410 once retention deleted it) and its audit trail."""
    base = f"{PREFIX}/clips/{clip.id}"
    # Media links are signed for the caller when keys are on, so a <video src>
    # plays them without a header (eventclip.gateway.signed_urls).
    sign = current_link_signer.get() or (lambda path: path)
    links = {
        "self": base,
        "video": sign(f"{base}/video"),
        "thumbnail": sign(f"{base}/thumbnail"),
        "metadata": sign(f"{base}/metadata.json"),
        "audit": f"{base}/audit",
    }
    if clip.alert_id:  # evidence of an alert: its POS transaction as timed text
        links["receipt"] = sign(f"{base}/receipt.vtt")
    return {**to_json(clip), "links": links}


# --- events and alerts -------------------------------------------------------

_EVENT_EXAMPLE = {
    "eventId": "e1",
    "type": "REFUND",
    "storeId": "s1",
    "registerId": "demo",
    "operatorId": "op7",
    "amount": {"currencyCode": "USD", "units": "500", "nanos": 0},
    "transactionId": "t1",
    "occurredAt": "2026-11-21T15:00:00Z",
}


#: Answers of POST /events and /detections (both SubmitEventResponse).
_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: json_content(schema_ref("eventclip.v1.SubmitEventResponse"), "Scored first time"),
    200: json_content(schema_ref("eventclip.v1.SubmitEventResponse"), "A retry: the first result"),
    **error_responses(400, 404, 409, 503, 504),
}


def _json_body(message: str, example: dict[str, Any]) -> dict[str, Any]:
    """openapi_extra for a required JSON body of proto ``message``."""
    content = {"application/json": {"schema": schema_ref(message), "example": example}}
    return {"requestBody": {"required": True, "content": content}}


def _submitted(reply: events_pb2.SubmitEventResponse) -> JSONResponse:
    """201 for a first submission (Location: the alert, when raised), 200 for a retry."""
    headers = {"Location": f"{PREFIX}/alerts/{reply.alert.id}"} if reply.alert.id else None
    return JSONResponse(to_json(reply), status_code=200 if reply.replayed else 201, headers=headers)


@router.post(
    "/events",
    summary="Submit a POS event",
    description=(
        "Scores the event with the rule plugins (EventService.SubmitEvent). At or over "
        "the risk threshold an alert is raised and a clip is requested from every camera "
        "of the register. Idempotent by `eventId`: a retry answers **200** with the first "
        "result and `replayed: true`; a new event answers **201** (with `Location` of the "
        "alert when one was raised)."
    ),
    status_code=201,
    response_class=JSONResponse,
    responses=_SUBMIT_RESPONSES,
    openapi_extra=_json_body("eventclip.v1.PosEvent", _EVENT_EXAMPLE),
)
async def submit_event(request: Request, clients: Clients) -> JSONResponse:
    # The body is parsed by json_format, not pydantic: the proto is the schema.
    event = parse(await read_json(request), events_pb2.PosEvent)
    with backend_errors("events"):
        reply = await clients.events.SubmitEvent(
            events_pb2.SubmitEventRequest(event=event), timeout=UNARY_TIMEOUT_SECONDS
        )
    return _submitted(reply)


_DETECTION_EXAMPLE = {
    "eventId": "gpu-box-7/000123",
    "storeId": "s1",
    "detection": {
        "cameraId": "demo",
        "label": "spill",
        "confidence": 0.82,
        "box": {"xMin": 0.4, "yMin": 0.7, "xMax": 0.55, "yMax": 0.85},
        "detector": "yolo-floor",
    },
    "onsetTime": "2026-11-21T15:00:00Z",
}


@router.post(
    "/detections",
    summary="Submit what a detector found",
    description=(
        "EventService.SubmitDetection: a DETECTION event scored by the rule plugins. At or "
        "over the risk threshold an alert is raised and a clip requested from the detecting "
        "camera around `onsetTime`; a repeat of an open incident (same camera, label and "
        "place within `detections.cooldown_seconds`) raises none and names its alert in "
        "`duplicateOf`. Idempotent by `eventId` like `POST /events` (201 first, 200 for "
        "a retry)."
    ),
    status_code=201,
    response_class=JSONResponse,
    responses=_SUBMIT_RESPONSES,
    openapi_extra=_json_body("eventclip.v1.SubmitDetectionRequest", _DETECTION_EXAMPLE),
)
async def submit_detection(request: Request, clients: Clients) -> JSONResponse:
    detection = parse(await read_json(request), events_pb2.SubmitDetectionRequest)
    with backend_errors("events"):
        reply = await clients.events.SubmitDetection(detection, timeout=UNARY_TIMEOUT_SECONDS)
    return _submitted(reply)


@router.get(
    "/alerts",
    summary="List alerts, newest first",
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref("eventclip.v1.ListAlertsResponse"), "A page of alerts"),
        **error_responses(400, 503, 504),
    },
)
async def list_alerts(
    clients: Clients,
    page_size: PageSize = 0,
    page_token: PageToken = "",
    store_id: Annotated[str, Query(alias="storeId")] = "",
    register_id: Annotated[str, Query(alias="registerId")] = "",
) -> JSONResponse:
    request = events_pb2.ListAlertsRequest(
        page_size=page_size, page_token=page_token, store_id=store_id, register_id=register_id
    )
    with backend_errors("events"):
        reply = await clients.events.ListAlerts(request, timeout=UNARY_TIMEOUT_SECONDS)
    return JSONResponse(to_json(reply))


@router.get(
    "/alerts/{alert_id}/evidence.zip",
    summary="The alert's signed evidence package",
    description=(
        "ClipService.ExportEvidence: a ZIP with every READY clip of the alert (MP4, "
        "thumbnail, sidecar, record, audit trail), the alert and POS event as JSON, "
        "`manifest.json` (every other file with size and SHA-256) and `manifest.sig` "
        "(raw 64-byte Ed25519 signature of manifest.json's bytes; key at "
        "`/api/v1/evidence/public-key`). Check it with `eventclip evidence verify`. "
        "Each exported clip gets an `exported` audit entry."
    ),
    response_class=Response,
    responses={
        200: {"description": "The package", "content": {"application/zip": {}}},
        **error_responses(404, 412, 500, 503, 504),
    },
)
async def get_evidence_package(alert_id: str, clients: Clients) -> Response:
    return await evidence_response(clients.clips, alert_id)


@router.get(
    "/evidence/public-key",
    summary="The public key that signs evidence packages",
    description=(
        "SubjectPublicKeyInfo PEM of the Ed25519 key; with `Accept: application/json` "
        "the EvidencePublicKey message (algorithm, pem, fingerprintSha256: SHA-256 of "
        "the raw 32-byte key, as named in each package's manifest)."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The key",
            "content": {
                "application/x-pem-file": {},
                "application/json": {"schema": schema_ref("eventclip.v1.EvidencePublicKey")},
            },
        },
        **error_responses(503, 504),
    },
)
async def get_evidence_public_key(request: Request, clients: Clients) -> Response:
    with backend_errors("clipper"):
        key = await clients.clips.GetEvidencePublicKey(
            clips_pb2.GetEvidencePublicKeyRequest(), timeout=UNARY_TIMEOUT_SECONDS
        )
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(to_json(key))
    return PlainTextResponse(key.pem, media_type="application/x-pem-file")


@router.get(
    "/alerts/{alert_id}",
    summary="Get one alert",
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref("eventclip.v1.Alert"), "The alert with its reasons"),
        **error_responses(404, 503, 504),
    },
)
async def get_alert(alert_id: str, clients: Clients) -> JSONResponse:
    with backend_errors("events"):
        alert = await clients.events.GetAlert(
            events_pb2.GetAlertRequest(id=alert_id), timeout=UNARY_TIMEOUT_SECONDS
        )
    return JSONResponse(to_json(alert))


# --- cameras -----------------------------------------------------------------


@router.get(
    "/cameras",
    summary="List cameras with their live buffer status",
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref("eventclip.v1.ListCamerasResponse"), "Every camera"),
        **error_responses(503, 504),
    },
)
async def list_cameras(clients: Clients) -> JSONResponse:
    with backend_errors("buffer"):
        reply = await clients.buffer.ListCameras(
            buffer_pb2.ListCamerasRequest(), timeout=UNARY_TIMEOUT_SECONDS
        )
    return JSONResponse(to_json(reply))


@router.get(
    "/cameras/{camera_id}",
    summary="Get one camera",
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref("eventclip.v1.Camera"), "The camera"),
        **error_responses(404, 503, 504),
    },
)
async def get_camera(camera_id: str, clients: Clients) -> JSONResponse:
    with backend_errors("buffer"):
        camera = await clients.buffer.GetCamera(
            buffer_pb2.GetCameraRequest(id=camera_id), timeout=UNARY_TIMEOUT_SECONDS
        )
    return JSONResponse(to_json(camera))


@router.get(
    "/cameras/{camera_id}/snapshot",
    summary="The camera's newest keyframe as a JPEG",
    description=(
        'BufferService.GetSnapshot: the "last known good" picture of the camera, '
        "decoded once per GOP and cached (a warm request only fetches the JPEG). "
        "`maxWidth` shrinks it (aspect ratio kept, never enlarged). `Last-Modified` is "
        "the keyframe's time; the ETag changes with the picture."
    ),
    response_class=Response,
    responses={
        200: {"description": "The JPEG", "content": {"image/jpeg": {}}},
        304: {"description": "Not modified (If-None-Match holds the ETag)"},
        **error_responses(400, 404, 503, 504),
    },
)
async def get_camera_snapshot(
    camera_id: str,
    request: Request,
    clients: Clients,
    max_width: Annotated[
        int, Query(alias="maxWidth", ge=0, le=16384, description="Widest picture, pixels (0: full)")
    ] = 0,
) -> Response:
    with backend_errors("buffer"):
        snapshot = await clients.buffer.GetSnapshot(
            buffer_pb2.GetSnapshotRequest(camera_id=camera_id, max_width=max_width),
            timeout=UNARY_TIMEOUT_SECONDS,
        )
    etag = f'"{hashlib.sha256(snapshot.jpeg).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",  # a newer GOP brings a newer picture
        "Last-Modified": format_datetime(snapshot.frame_time.ToDatetime(UTC), usegmt=True),
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(snapshot.jpeg, media_type="image/jpeg", headers=headers)


# --- clips -------------------------------------------------------------------


class ManualClipRequest(BaseModel):
    """A clip of one camera around a moment, asked for by a person."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cameraId": "demo",
                    "timestamp": "2026-11-21T15:00:00Z",
                    "preRollSeconds": 10,
                    "postRollSeconds": 10,
                }
            ]
        },
    )

    camera_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="Camera id")
    timestamp: AwareDatetime = Field(
        description="The moment of interest, RFC 3339 with offset, 1970 .. 2099"
    )
    pre_roll_seconds: float | None = Field(
        None,
        ge=0,
        le=MAX_DURATION_SECONDS,
        allow_inf_nan=False,
        description="Seconds before `timestamp`; the configured default when absent",
    )
    post_roll_seconds: float | None = Field(
        None,
        ge=0,
        le=MAX_DURATION_SECONDS,
        allow_inf_nan=False,
        description="Seconds after `timestamp`; the configured default when absent",
    )
    request_id: str | None = Field(
        None,
        max_length=MAX_ID_CHARS,
        description="Idempotency key: a retry with the same key returns the same clip",
    )
    trim: Literal["KEYFRAME", "EXACT"] | None = Field(
        None,
        description=(
            "KEYFRAME: start on the keyframe at or before the start; EXACT: hide the frames "
            "before it with an MP4 edit list. The configured `clips.trim` when absent"
        ),
    )

    def to_proto(self) -> clips_pb2.CreateClipRequest:
        request = clips_pb2.CreateClipRequest(
            camera_id=self.camera_id,
            event_time=to_timestamp(self.timestamp),
            request_id=self.request_id or "",
            trim=clips_pb2.Trim.Value(self.trim) if self.trim else clips_pb2.TRIM_UNSPECIFIED,
        )
        # Unset rolls stay unset so the clipper applies its configured defaults.
        if self.pre_roll_seconds is not None:
            request.pre_roll.CopyFrom(to_duration(self.pre_roll_seconds))
        if self.post_roll_seconds is not None:
            request.post_roll.CopyFrom(to_duration(self.post_roll_seconds))
        return request


@router.post(
    "/clips",
    summary="Request a clip manually",
    description=(
        "ClipService.CreateClip for `timestamp - preRollSeconds .. timestamp + "
        "postRollSeconds`. Answers **202** at once with the clip PENDING; poll "
        "`links.self` until `state` is READY (or FAILED, see `failureReason`)."
    ),
    status_code=202,
    response_class=JSONResponse,
    responses={
        202: json_content(schema_ref(CLIP_RESOURCE), "The clip, PENDING"),
        **error_responses(400, 404, 503, 504),
    },
)
async def create_clip(body: ManualClipRequest, clients: Clients) -> JSONResponse:
    with backend_errors("clipper"):
        clip = await clients.clips.CreateClip(body.to_proto(), timeout=UNARY_TIMEOUT_SECONDS)
    return JSONResponse(
        clip_resource(clip), status_code=202, headers={"Location": f"{PREFIX}/clips/{clip.id}"}
    )


@router.get(
    "/clips",
    summary="List clips, newest first",
    response_class=JSONResponse,
    responses={
        200: json_content(
            {
                "type": "object",
                "properties": {
                    "clips": {"type": "array", "items": schema_ref(CLIP_RESOURCE)},
                    "nextPageToken": {"type": "string"},
                },
            },
            "A page of clips",
        ),
        **error_responses(400, 503, 504),
    },
)
async def list_clips(
    clients: Clients,
    camera_id: Annotated[str, Query(alias="cameraId")] = "",
    event_id: Annotated[str, Query(alias="eventId")] = "",
    alert_id: Annotated[str, Query(alias="alertId")] = "",
    page_size: PageSize = 0,
    page_token: PageToken = "",
) -> JSONResponse:
    request = clips_pb2.ListClipsRequest(
        page_size=page_size,
        page_token=page_token,
        camera_id=camera_id,
        event_id=event_id,
        alert_id=alert_id,
    )
    with backend_errors("clipper"):
        reply = await clients.clips.ListClips(request, timeout=UNARY_TIMEOUT_SECONDS)
    return JSONResponse(
        {
            "clips": [clip_resource(clip) for clip in reply.clips],
            "nextPageToken": reply.next_page_token,
        }
    )


@router.get(
    "/clips/{clip_id}",
    summary="Get one clip",
    response_class=JSONResponse,
    responses={
        200: json_content(
            schema_ref(CLIP_RESOURCE), "State, window, duration, size and SHA-256 of the clip"
        ),
        **error_responses(404, 503, 504),
    },
)
async def get_clip(clip_id: str, clients: Clients) -> JSONResponse:
    request = clips_pb2.GetClipRequest(id=clip_id)
    return await clip_reply(clients.clips.GetClip(request, timeout=UNARY_TIMEOUT_SECONDS))


_VIDEO_DOC = {
    200: {"description": "The whole MP4", "content": {"video/mp4": {}}},
    206: {"description": "The requested byte range", "content": {"video/mp4": {}}},
    304: {"description": "Not modified (If-None-Match holds the ETag)"},
    **error_responses(404, 410, 412, 416, 503, 504),
}


@router.get(
    "/clips/{clip_id}/video",
    summary="Download or stream the clip's MP4",
    description=(
        "Supports `Range: bytes=a-b`, `bytes=a-` and `bytes=-n` (206 with "
        "Content-Range), If-Range and If-None-Match. The ETag is the file's SHA-256."
    ),
    response_class=Response,
    responses=_VIDEO_DOC,
)
async def get_clip_video(
    clip_id: str, request: Request, clients: Clients, download: Download = False
) -> Response:
    return await media_response(
        clients.clips, clip_id, clips_pb2.ReadClipMediaRequest.VIDEO, request, download=download
    )


@router.get(
    "/clips/{clip_id}/thumbnail",
    summary="The clip's thumbnail (320x240 JPEG)",
    response_class=Response,
    responses={
        200: {"description": "The JPEG", "content": {"image/jpeg": {}}},
        304: {"description": "Not modified (If-None-Match holds the ETag)"},
        **error_responses(404, 410, 412, 503, 504),
    },
)
async def get_clip_thumbnail(
    clip_id: str, request: Request, clients: Clients, download: Download = False
) -> Response:
    return await media_response(
        clients.clips,
        clip_id,
        clips_pb2.ReadClipMediaRequest.THUMBNAIL,
        request,
        download=download,
    )


@router.get(
    "/clips/{clip_id}/metadata.json",
    summary="The clip's sidecar metadata (JSON)",
    description=(
        "Camera, requested and actual times, coverage and gaps, codec, the buffer "
        "timelines it was cut from, the event and alert, and the size and SHA-256 of "
        "the video and thumbnail (format `eventclip-clip-metadata/1`). Its own SHA-256 "
        "is the clip's `metadataSha256` and the ETag."
    ),
    response_class=Response,
    responses={
        200: {"description": "The sidecar", "content": {"application/json": {}}},
        304: {"description": "Not modified (If-None-Match holds the ETag)"},
        **error_responses(404, 410, 412, 503, 504),
    },
)
async def get_clip_metadata(
    clip_id: str, request: Request, clients: Clients, download: Download = False
) -> Response:
    return await media_response(
        clients.clips,
        clip_id,
        clips_pb2.ReadClipMediaRequest.METADATA,
        request,
        download=download,
    )


@router.get(
    "/clips/{clip_id}/receipt.vtt",
    summary="The POS transaction over the clip, as WebVTT",
    description=(
        "The receipt of the event the clip is evidence for, as timed text for an HTML "
        "`<track>`: each line from the time it was rung up, then the event (total, "
        "tender, approval), on the clip's timeline (0 = its first frame; POS times "
        "corrected by the register's clock offset). 404 for a clip without a POS event."
    ),
    response_class=Response,
    responses={
        200: {"description": "The WebVTT file", "content": {"text/vtt": {}}},
        **error_responses(404, 412, 503, 504),
    },
)
async def get_clip_receipt(clip_id: str, clients: Clients) -> Response:
    with backend_errors("clipper"):
        clip = await clients.clips.GetClip(
            clips_pb2.GetClipRequest(id=clip_id), timeout=UNARY_TIMEOUT_SECONDS
        )
    if not clip.alert_id:
        raise ApiError(404, "NOT_FOUND", f"clip {clip_id} is not evidence of a POS event")
    if not clip.HasField("media_start_time"):
        state = clips_pb2.Clip.State.Name(clip.state)
        raise ApiError(412, "FAILED_PRECONDITION", f"clip {clip_id} has no video yet ({state})")
    with backend_errors("events"):
        alert = await clients.events.GetAlert(
            events_pb2.GetAlertRequest(id=clip.alert_id), timeout=UNARY_TIMEOUT_SECONDS
        )
    if alert.event.type == events_pb2.PosEvent.DETECTION:
        raise ApiError(404, "NOT_FOUND", f"clip {clip_id} is of a detection, not a POS event")
    cues = receipts.receipt_cues(
        alert.event,
        from_timestamp(alert.occurred_at),
        from_timestamp(clip.media_start_time),
        from_timestamp(clip.media_end_time),
    )
    return Response(receipts.webvtt(cues), media_type="text/vtt; charset=utf-8")


@router.get(
    "/clips/{clip_id}/audit",
    summary="The clip's audit trail, oldest first",
    description=(
        "ClipService.ListAuditEntries: created, recording, retrying, ready/failed, "
        "cancelled, viewed, downloaded, exported, held, released, deleted, each with "
        "time, actor and detail, hash-chained (`previousSha256`, `sha256`); "
        "`chainIntact` says whether the whole chain verifies, `chainError` where not."
    ),
    response_class=JSONResponse,
    responses={
        200: json_content(
            schema_ref("eventclip.v1.ListAuditEntriesResponse"), "A page of the trail"
        ),
        **error_responses(400, 404, 503, 504),
    },
)
async def list_clip_audit(
    clip_id: str, clients: Clients, page_size: PageSize = 0, page_token: PageToken = ""
) -> JSONResponse:
    request = clips_pb2.ListAuditEntriesRequest(
        clip_id=clip_id, page_size=page_size, page_token=page_token
    )
    with backend_errors("clipper"):
        reply = await clients.clips.ListAuditEntries(request, timeout=UNARY_TIMEOUT_SECONDS)
    return JSONResponse(to_json(reply))


class ClipActionBody(BaseModel):
    """Optional body of `:hold` and `:release`."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description="Why (case number, requester); kept in the audit trail")


@router.post(
    "/clips/{clip_id}:cancel",
    summary="Cancel a clip that is not finished (AIP-136 custom method)",
    description=(
        "ClipService.CancelClip: the job stops and the clip ends CANCELLED with no media. "
        "Cancelling a CANCELLED clip returns it; a finished clip is 412."
    ),
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref(CLIP_RESOURCE), "The clip, CANCELLED"),
        **error_responses(404, 412, 503, 504),
    },
)
async def cancel_clip(clip_id: str, clients: Clients) -> JSONResponse:
    request = clips_pb2.CancelClipRequest(id=clip_id)
    return await clip_reply(clients.clips.CancelClip(request, timeout=UNARY_TIMEOUT_SECONDS))


@router.post(
    "/clips/{clip_id}:hold",
    summary="Put a clip under legal hold (AIP-136 custom method)",
    description=(
        "ClipService.HoldClip: retention never deletes a held clip. Body (optional): "
        '`{"reason": "case 2026-17"}`, kept in the audit trail. A DELETED or CANCELLED '
        "clip is 412."
    ),
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref(CLIP_RESOURCE), "The clip, legalHold true"),
        **error_responses(400, 404, 412, 503, 504),
    },
)
async def hold_clip(
    clip_id: str, clients: Clients, body: ClipActionBody | None = None
) -> JSONResponse:
    request = clips_pb2.HoldClipRequest(id=clip_id, reason=body.reason if body else "")
    return await clip_reply(clients.clips.HoldClip(request, timeout=UNARY_TIMEOUT_SECONDS))


@router.post(
    "/clips/{clip_id}:release",
    summary="Release a clip's legal hold (AIP-136 custom method)",
    description=(
        "ClipService.ReleaseClip: retention applies again (a clip past its expireTime "
        'goes at the next sweep). Body (optional): `{"reason": "..."}`.'
    ),
    response_class=JSONResponse,
    responses={
        200: json_content(schema_ref(CLIP_RESOURCE), "The clip, legalHold false"),
        **error_responses(400, 404, 503, 504),
    },
)
async def release_clip(
    clip_id: str, clients: Clients, body: ClipActionBody | None = None
) -> JSONResponse:
    request = clips_pb2.ReleaseClipRequest(id=clip_id, reason=body.reason if body else "")
    return await clip_reply(clients.clips.ReleaseClip(request, timeout=UNARY_TIMEOUT_SECONDS))
