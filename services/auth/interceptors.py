"""Authentication and authorization of gRPC calls, in one place per process.

Callers send the metadata ``authorization: Bearer KEY``. ``AuthInterceptor``
(one per server, ``eventclip.rpc.start_server``) lets health checks and
reflection through, identifies the key (the shared service key, or an API key
looked up hashed, remembered for ``CACHE_SECONDS`` so a revoke takes effect
within that), and refuses with UNAUTHENTICATED (no key, unknown or revoked
key) or PERMISSION_DENIED (the role may not call that RPC, ``roles``) before
any handler runs. ``outgoing_metadata`` is what ``eventclip.rpc.open_channel``
attaches to calls between services: the service key; the gateway instead
forwards its HTTP caller's key (``forwarded_authorization``).

``configure(settings)`` sets this process's authenticator; every service and
the CLI call it at start. ``eventclip run`` serves all services in one process
with one configuration, so one authenticator serves them all.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from cachetools import TTLCache

from eventclip.auth.keys import Identity, KeyStore, token_sha256
from eventclip.auth.roles import is_open, may_call

#: Seconds a verified (or refused) key is remembered.
CACHE_SECONDS = 5.0
#: Keys remembered at most; past it the oldest go first, so a caller trying
#: random keys costs database lookups, never memory.
CACHE_MAX_KEYS = 10_000
SERVICE = Identity("service", "service")
AUTHORIZATION = "authorization"

#: The Authorization header of the HTTP request being served (the gateway).
forwarded_authorization: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "forwarded_authorization", default=None
)
#: Whom the gateway acts for when it calls with the service key (a signed
#: media link's ``by``); honoured only from the service.
forwarded_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "forwarded_actor", default=None
)
ON_BEHALF_OF = "x-eventclip-on-behalf-of"


class Unauthenticated(Exception):
    """No key, or a key nobody issued (or since revoked); the message says which."""


@dataclass
class Authenticator:
    """Identifies callers. ``enabled`` False: every caller is the service
    (auth switched off in config). ``keys``: the key table, None when there is
    no database (then only the service key is known)."""

    enabled: bool
    service_key: str
    keys: KeyStore | None = None
    open_reflection: bool = False
    _cache: TTLCache[str, Identity | None] = field(
        default_factory=lambda: TTLCache(maxsize=CACHE_MAX_KEYS, ttl=CACHE_SECONDS)
    )
    #: identify() runs in worker threads; TTLCache is not thread-safe.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def identify(self, authorization: str | None) -> Identity:
        """The identity behind an ``authorization`` value ("Bearer KEY").
        Raises Unauthenticated. May query the database (blocking)."""
        if not self.enabled:
            return SERVICE
        known = self._service_or_digest(_bearer_token(authorization))
        if isinstance(known, Identity):
            return known
        with self._lock:
            identity = self._cache.get(known, _MISSING)
        if identity is _MISSING:
            identity = self.keys.identify_digest(known) if self.keys is not None else None
            with self._lock:
                self._cache[known] = identity
        if identity is None:
            raise Unauthenticated("unknown or revoked API key")
        return identity

    def cached_identity(self, authorization: str | None) -> Identity | None:
        """The identity ``identify`` would give, without blocking: from the cache
        (the interceptor has just filled it), None when it is not there."""
        if not self.enabled:
            return SERVICE
        try:
            known = self._service_or_digest(_bearer_token(authorization))
        except Unauthenticated:
            return None
        if isinstance(known, Identity):
            return known
        with self._lock:
            return self._cache.get(known)

    def _service_or_digest(self, token: str) -> Identity | str:
        """SERVICE for the service key (constant-time compare), else the
        token's SHA-256, the key table's and the cache's index."""
        if hmac.compare_digest(token.encode(), self.service_key.encode()):
            return SERVICE
        return token_sha256(token)


_MISSING: Any = object()


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(
            "no API key: send 'authorization: Bearer KEY' (keys come from 'eventclip keys create')"
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the authorization must be 'Bearer KEY'")
    return token.strip()


_authenticator = Authenticator(enabled=False, service_key="")


def configure(authenticator: Authenticator) -> None:
    """Make ``authenticator`` this process's (services and CLI call it at start)."""
    global _authenticator
    _authenticator = authenticator


def authenticator() -> Authenticator:
    return _authenticator


def load_service_key(configured: str | None, data_dir: Path) -> str:
    """The shared service key: ``auth.service_key`` from config, else the one in
    ``<data_dir>/service-key`` (made on first start, readable by its owner only),
    so services on one host share it with no configuration."""
    if configured:
        return configured
    path = data_dir / "service-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "ecs_" + secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another service made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def caller_of(context: grpc.aio.ServicerContext) -> Identity | None:
    """The identity of the call ``context`` serves (None: unknown). The service
    may say whom it acts for (``x-eventclip-on-behalf-of``: the gateway serving
    a signed media link); nobody else can."""
    metadata = dict(context.invocation_metadata() or ())
    identity = _authenticator.cached_identity(metadata.get(AUTHORIZATION))
    if identity == SERVICE and metadata.get(ON_BEHALF_OF):
        return Identity(str(metadata[ON_BEHALF_OF]), SERVICE.role)
    return identity


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a key allowed to make them (see the module)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        auth = _authenticator
        method = details.method
        handler = await continuation(details)
        if (
            handler is None
            or not auth.enabled
            or is_open(method, open_reflection=auth.open_reflection)
        ):
            return handler
        header = dict(details.invocation_metadata or ()).get(AUTHORIZATION)
        try:
            identity = await asyncio.to_thread(auth.identify, header)
        except Unauthenticated as err:
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, str(err))
        if not may_call(identity.role, method):
            name = method.rsplit("/", 1)[-1]
            return _refusal(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"the {identity.role} key {identity.name!r} may not call {name}",
            )
        return handler


def _refusal(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind that only aborts with ``code``."""

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)
        yield  # an async generator, as a streaming handler must be

    kinds = {
        "unary_unary": (grpc.unary_unary_rpc_method_handler, unary),
        "unary_stream": (grpc.unary_stream_rpc_method_handler, streaming),
        "stream_unary": (grpc.stream_unary_rpc_method_handler, unary),
        "stream_stream": (grpc.stream_stream_rpc_method_handler, streaming),
    }
    for kind, (make, behaviour) in kinds.items():
        if getattr(handler, kind) is not None:
            return make(
                behaviour,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


def outgoing_metadata(*, forward: bool) -> tuple[tuple[str, str], ...]:
    """Metadata for a call to another service: the HTTP caller's key when
    ``forward`` (the gateway: it acts for its caller, never as the service),
    else the service key."""
    if forward:
        header = forwarded_authorization.get()
        actor = forwarded_actor.get()
        metadata = ((AUTHORIZATION, header),) if header else ()
        return (*metadata, (ON_BEHALF_OF, actor)) if actor else metadata
    key = _authenticator.service_key
    return ((AUTHORIZATION, f"Bearer {key}"),) if key else ()


class _WithMetadata:
    """Client interceptor base: adds ``outgoing_metadata`` to calls without an
    authorization of their own."""

    def __init__(self, forward: bool) -> None:
        self.forward = forward

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = list(details.metadata or ())
        if not any(k == AUTHORIZATION for k, _ in metadata):
            metadata += outgoing_metadata(forward=self.forward)
        return details._replace(metadata=grpc.aio.Metadata(*metadata))


class _UnaryUnary(_WithMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), request)


class _UnaryStream(_WithMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(details), request)


def client_interceptors(*, forward: bool) -> list[grpc.aio.ClientInterceptor]:
    """The interceptors ``open_channel`` adds (see ``outgoing_metadata``)."""
    return [_UnaryUnary(forward), _UnaryStream(forward)]
