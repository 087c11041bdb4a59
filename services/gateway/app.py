"""The gateway's ASGI app: REST/JSON over the backends' gRPC APIs, health, docs
and the operator page. It holds no state beyond its gRPC channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

import eventclip
from eventclip.config import Settings
from eventclip.gateway import api
from eventclip.gateway.backends import Backends
from eventclip.gateway.errors import install_error_handlers
from eventclip.gateway.guard import RequestGuard
from eventclip.gateway.openapi import json_content, message_schemas, schema_ref
from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2

STATIC_DIR = Path(__file__).parent / "static"

_DESCRIPTION = """\
REST/JSON front of eventclip's gRPC services. Bodies are the
[proto3 JSON mapping](https://protobuf.dev/programming-guides/json/) of the
`eventclip.v1` messages (lowerCamelCase names, RFC 3339 timestamps, int64 as
strings, enums by name), as grpc-gateway and Envoy's transcoder produce.
Errors: `{"error": {"code", "status", "message", "details"}}` (AIP-193).
"""


def create_app(settings: Settings) -> FastAPI:
    """The gateway app for ``settings``: gRPC channels to
    ``settings.services.{buffer,events,clipper}.target`` open on startup and
    close on shutdown (the ASGI lifespan), so serve it with lifespan on."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backends = Backends.open(settings)
        try:
            yield
        finally:
            await app.state.backends.close()

    # Swagger UI and ReDoc served from the package, not a CDN: sites run offline.
    app = FastAPIOffline(
        title="eventclip gateway",
        version=eventclip.__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.state.media_url_ttl_seconds = settings.auth.media_url_ttl_seconds
    app.add_middleware(RequestGuard, max_body_bytes=settings.gateway.max_body_bytes)
    if settings.gateway.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.gateway.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "range"],
            expose_headers=["content-range", "accept-ranges", "content-length"],
        )
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get(
        "/healthz",
        summary="Health of the gateway's backends",
        tags=["operations"],
        response_class=JSONResponse,
        responses={
            200: json_content(_HEALTH_SCHEMA, "Every backend is SERVING"),
            503: json_content(_HEALTH_SCHEMA, "At least one backend is not SERVING"),
        },
    )
    async def healthz(request: Request) -> JSONResponse:
        """grpc.health.v1 Check of buffer, events and clipper (1 s deadline each)."""
        services = await request.app.state.backends.health()
        ok = all(status == "SERVING" for status in services.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "services": services},
            status_code=200 if ok else 503,
        )

    @app.get("/", include_in_schema=False)
    async def operator_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(_proto_components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


_HEALTH_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "services": {
            "type": "object",
            "description": "Backend -> SERVING, NOT_SERVING, or the error of the check",
            "additionalProperties": {"type": "string"},
        },
    },
}


def _proto_components() -> dict[str, dict[str, Any]]:
    """Schemas of every message the REST routes send or accept."""
    schemas = message_schemas(
        events_pb2.PosEvent.DESCRIPTOR,
        events_pb2.SubmitEventResponse.DESCRIPTOR,
        events_pb2.SubmitDetectionRequest.DESCRIPTOR,
        events_pb2.ListAlertsResponse.DESCRIPTOR,
        buffer_pb2.ListCamerasResponse.DESCRIPTOR,
        clips_pb2.Clip.DESCRIPTOR,
        clips_pb2.ListAuditEntriesResponse.DESCRIPTOR,
        clips_pb2.EvidencePublicKey.DESCRIPTOR,
    )
    link = {"type": "string", "format": "uri-reference"}
    schemas[api.CLIP_RESOURCE] = {
        "allOf": [
            schema_ref("eventclip.v1.Clip"),
            {
                "type": "object",
                "properties": {
                    "links": {
                        "type": "object",
                        "properties": {name: link for name in api.CLIP_LINKS},
                    }
                },
            },
        ]
    }
    return schemas
