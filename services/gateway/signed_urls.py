"""Signed media URLs: links to a clip's video, thumbnail, sidecar and receipt that a
``<video src>`` or an ``<a href>`` can follow without an Authorization header,
and that stop working after ``auth.media_url_ttl_seconds``.

A link is ``PATH?expires=UNIX&by=NAME&sig=HEX``: ``sig`` is the HMAC-SHA256
(RFC 2104) of ``PATH``, ``expires`` and ``by`` joined by newlines, under a key
derived from the service key (so every gateway of a deployment verifies every
other's links, and a new service key voids all links). ``by`` is the name of
the API key the link was made for; it is the actor of the "viewed" and
"downloaded" entries of the clip's audit trail. Other query parameters (such
as ``download=1``) are not signed: they change how, not what, is served.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import Request

from eventclip.auth.interceptors import (
    Unauthenticated,
    authenticator,
    forwarded_actor,
    forwarded_authorization,
)
from eventclip.gateway.errors import ApiError

_KEY_LABEL = b"eventclip media URL\x00"


def signing_key(service_key: str) -> bytes:
    return hashlib.sha256(_KEY_LABEL + service_key.encode()).digest()


def _signature(key: bytes, path: str, expires: int, by: str) -> str:
    return hmac.new(key, f"{path}\n{expires}\n{by}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, path: str, *, by: str, ttl_seconds: int, now: float | None = None) -> str:
    """``path`` with the query that makes it a link valid ``ttl_seconds`` from now."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    query = urlencode({"expires": expires, "by": by, "sig": _signature(key, path, expires, by)})
    return f"{path}?{query}"


def verify(
    key: bytes, path: str, expires: str, by: str, sig: str, now: float | None = None
) -> None:
    """Check a link's query. Raises ApiError 403 when it was altered or has expired."""
    try:
        expires_at = int(expires)
    except ValueError:
        raise ApiError(403, "PERMISSION_DENIED", "the link was altered") from None
    if not hmac.compare_digest(_signature(key, path, expires_at, by), sig):
        raise ApiError(403, "PERMISSION_DENIED", "the link was altered")
    if (time.time() if now is None else now) > expires_at:
        raise ApiError(
            403, "PERMISSION_DENIED", "the link has expired: reload the clip for a new one"
        )


#: Signs a media path for the caller of the request being served (None: links
#: stay plain, keys are off or the caller has none).
current_link_signer: contextvars.ContextVar[Callable[[str], str] | None] = contextvars.ContextVar(
    "current_link_signer", default=None
)
_MEDIA_SUFFIXES = ("/video", "/thumbnail", "/metadata.json", "/receipt.vtt")


async def media_links(request: Request) -> None:
    """Router dependency of the REST API. A media request carrying a link's
    signature is checked (403 when altered or expired) and then served with the
    service key on behalf of the link's ``by``; any other request with a valid
    key gets links signed for that key in the clips it receives."""
    auth = authenticator()
    if not auth.enabled:
        return
    query = request.query_params
    path = request.url.path
    if "sig" in query and path.endswith(_MEDIA_SUFFIXES):
        by = query.get("by", "")
        verify(signing_key(auth.service_key), path, query.get("expires", ""), by, query["sig"])
        forwarded_authorization.set(f"Bearer {auth.service_key}")
        forwarded_actor.set(by)
        return
    try:
        identity = await asyncio.to_thread(auth.identify, request.headers.get("authorization"))
    except Unauthenticated:
        return  # the backend answers 401
    key = signing_key(auth.service_key)
    ttl = request.app.state.media_url_ttl_seconds
    current_link_signer.set(lambda media: sign(key, media, by=identity.name, ttl_seconds=ttl))
