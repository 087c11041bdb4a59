"""What the gateway refuses before a route runs: request bodies that are not
JSON or too large, and the headers every response carries.

Why each rule:

* **JSON bodies only (415).** A cross-site HTML form or a ``fetch`` in
  ``no-cors`` mode can send ``text/plain``, form-encoded or multipart bodies
  (and bodiless POSTs) to any origin without a CORS preflight; it cannot send
  ``Content-Type: application/json``. Requiring it on every POST, PUT, PATCH and
  DELETE means a page a cashier happens to open cannot submit events or cancel
  clips through their browser (OWASP CSRF cheat sheet, "custom request headers").
* **A body limit (413).** Refused from ``Content-Length`` before anything is
  read, and counted while a chunked body streams in, so a 100 MB POST costs
  at most ``max_body_bytes`` of memory.
* **CORS off** unless ``gateway.cors_origins`` lists origins (Starlette's
  CORSMiddleware then answers preflights for exactly those).
* **Security headers** on every response: ``nosniff``, no referrer, no framing
  (``frame-ancestors 'none'``); pages get a Content-Security-Policy that allows
  only this origin's scripts and styles (the interactive API docs, which need
  inline script, get one that allows it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from eventclip.auth.interceptors import forwarded_authorization
from eventclip.gateway.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Methods whose requests must say they carry JSON.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Media types accepted as JSON request bodies.
JSON_TYPES = frozenset({"application/json"})

_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
#: The operator page and everything else: this origin only, no inline code.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Swagger UI and ReDoc (served from the package) start from an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/docs", "/redoc")


class BodyTooLarge(ApiError):
    """Raised from ``receive`` once a streamed body passes the limit: the
    route reading it answers 413 through the gateway's ApiError handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "INVALID_ARGUMENT",
            f"request body larger than the limit of {limit} bytes (gateway.max_body_bytes)",
        )


class RequestGuard:
    """ASGI middleware enforcing the rules above for HTTP requests.

    ``max_body_bytes``: the largest request body accepted. Refusals carry the
    gateway's AIP-193 JSON error body (``ApiError``): 415 for a body that is
    not declared JSON, 413 for one over the limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        send = _with_security_headers(send, DOCS_CSP if path.startswith(_DOCS_PATHS) else PAGE_CSP)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] in BODY_METHODS:
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type not in JSON_TYPES:
                what = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
                refusal = ApiError(
                    415,
                    "INVALID_ARGUMENT",
                    f"request bodies must be JSON (Content-Type: application/json); got {what}",
                )
                await refusal.response()(scope, receive, send)
                return
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await BodyTooLarge(self.max_body_bytes).response()(scope, receive, send)
                return
        # The backends check the caller's key: the gateway's channels forward it.
        forwarded = forwarded_authorization.set(headers.get("authorization"))
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as refusal:  # read outside a route's error handling
            if not started:
                await refusal.response()(scope, receive, send)
        finally:
            forwarded_authorization.reset(forwarded)


def _with_security_headers(send: Send, csp: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in _COMMON_HEADERS if k not in names]
            if b"content-security-policy" not in names:
                extra.append((b"content-security-policy", csp.encode()))
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return sending
