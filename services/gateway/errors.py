"""gRPC status -> HTTP error responses (AIP-193 shape) for the REST gateway.

Every error the gateway returns has the body::

    {"error": {"code": 404, "status": "NOT_FOUND", "message": "...", "details": [...]}}

``code`` is the HTTP status, ``status`` the gRPC code name, ``details`` a list of
``google.rpc`` detail objects in proto3 JSON (``{"@type": ..., ...}``); the
gateway fills in ``google.rpc.BadRequest`` field violations for request bodies
and query parameters it rejects itself, and leaves it empty otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventclip.rpc import internal_error

log = logging.getLogger(__name__)

#: gRPC code -> HTTP status, as google.rpc.Code documents them (and grpc-gateway
#: applies). OUT_OF_RANGE is 400 except on media byte ranges (416, see media.py).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

#: HTTP status -> gRPC code name, for errors raised by the HTTP layer itself
#: (unknown route, wrong method) rather than by a backend.
_STATUS_FOR_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    416: "OUT_OF_RANGE",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


class ApiError(Exception):
    """An error to send to the HTTP client as the AIP-193 JSON body.

    ``http_status``: HTTP status code; ``status``: gRPC code name
    (e.g. "NOT_FOUND"); ``details``: google.rpc detail objects in proto3 JSON;
    ``headers``: extra response headers (e.g. Content-Range on a 416).
    """

    def __init__(
        self,
        http_status: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.http_status,
                "status": self.status,
                "message": self.message,
                "details": self.details,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.http_status, headers=self.headers)


def invalid_argument(message: str, field: str | None = None) -> ApiError:
    """A 400 INVALID_ARGUMENT; with ``field`` (lowerCamelCase path, e.g.
    ``amount.units``) it carries a google.rpc.BadRequest field violation."""
    details = []
    if field is not None:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": field, "description": message}],
            }
        )
    return ApiError(400, "INVALID_ARGUMENT", message, details)


def from_rpc_error(
    err: grpc.aio.AioRpcError, backend: str, *, out_of_range_http: int = 400
) -> ApiError:
    """Map a failed call to ``backend`` ("events", "clipper", "buffer") to an ApiError.

    The backend's message passes through as it is (it names the bad field or the
    missing id); for UNAVAILABLE and DEADLINE_EXCEEDED the message says which
    backend failed, since the gRPC text alone ("failed to connect to all
    addresses") does not. Unmapped codes become 500.
    """
    code = err.code()
    http_status = HTTP_STATUS.get(code, 500)
    if code == grpc.StatusCode.OUT_OF_RANGE:
        http_status = out_of_range_http
    message = err.details() or code.name
    if code == grpc.StatusCode.UNAVAILABLE:
        message = f"the {backend} service is unavailable: {message}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"the {backend} service did not answer in time: {message}"
    elif http_status == 500:
        log.error("%s call failed with %s: %s", backend, code.name, message)
    # RFC 6750 3: a 401 names the scheme the client should use.
    headers = {"WWW-Authenticate": 'Bearer realm="eventclip"'} if http_status == 401 else None
    return ApiError(http_status, code.name, message, headers=headers)


@contextmanager
def backend_errors(backend: str, *, out_of_range_http: int = 400) -> Iterator[None]:
    """Turn a gRPC error raised inside the block into the matching ApiError."""
    try:
        yield
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err, backend, out_of_range_http=out_of_range_http) from err


def _field_path(loc: tuple[Any, ...]) -> str:
    # FastAPI locations start with where the value came from ("body", "query").
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in {"body", "query", "path"} else loc
    return ".".join(str(p) for p in parts) or str(loc[0] if loc else "body")


def validation_error(err: RequestValidationError) -> ApiError:
    """FastAPI's request validation failure (422 by default) as a 400 whose message
    and BadRequest field violations name each bad field."""
    violations = []
    for item in err.errors():
        field = _field_path(tuple(item.get("loc", ())))
        violations.append({"field": field, "description": item.get("msg", "invalid")})
    message = "; ".join(f"{v['field']}: {v['description']}" for v in violations)
    return ApiError(
        400,
        "INVALID_ARGUMENT",
        message or "invalid request",
        [{"@type": BAD_REQUEST_TYPE, "fieldViolations": violations}],
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error leave the gateway as the AIP-193 JSON body: ApiError,
    request validation (400, not FastAPI's 422), HTTP errors of the router (404
    unknown route, 405), and anything unexpected (500 without a stack trace)."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error(exc).response()

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = _STATUS_FOR_HTTP.get(exc.status_code, "UNKNOWN")
        error = ApiError(exc.status_code, status, str(exc.detail), headers=exc.headers)
        return error.response()

    async def on_rpc_error(_: Request, exc: Exception) -> JSONResponse:
        # A call made outside backend_errors(): still no stack trace to the client.
        assert isinstance(exc, grpc.aio.AioRpcError)
        return from_rpc_error(exc, "backend").response()

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        message = internal_error(f"{request.method} {request.url.path}", exc)
        return ApiError(500, "INTERNAL", message).response()

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(grpc.aio.AioRpcError, on_rpc_error)
    app.add_exception_handler(Exception, on_unexpected)
