"""gRPC plumbing shared by the services: servers with health, reflection and
tracing; traced client channels; domain errors -> status codes."""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor

from eventclip.auth.interceptors import AuthInterceptor, client_interceptors
from eventclip.config import ListenError, TlsConfig
from eventclip.errors import ServiceError
from eventclip.tls import channel_credentials, server_credentials
from eventclip.validation import check_request

log = logging.getLogger(__name__)

#: Largest message either side accepts. ReadWindow batches stay <= 1 MiB, but a
#: single 4K keyframe can exceed gRPC's 4 MiB default.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class Registration:
    """One servicer to mount: ``add(servicer, server)`` from the *_pb2_grpc module
    and the fully-qualified service name (e.g. ``eventclip.v1.BufferService``)."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    full_name: str


async def start_server(
    bind: str, registrations: Sequence[Registration], *, tls: TlsConfig
) -> tuple[grpc.aio.Server, int]:
    """Start an asyncio gRPC server on ``bind`` ("host:port", port 0 = any free),
    over TLS when ``tls`` has a certificate (``eventclip.tls``).

    Mounts the servicers plus ``grpc.health.v1`` (SERVING for each service name
    and for "") and server reflection, behind the API key check
    (``eventclip.auth.interceptors.AuthInterceptor``). Returns the server and the
    bound port.
    Raises ListenError when the port cannot be bound, ConfigError when the TLS
    files cannot be read.
    """
    credentials = server_credentials(tls)
    server = grpc.aio.server(
        interceptors=[aio_server_interceptor(), AuthInterceptor()], options=CHANNEL_OPTIONS
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [r.full_name for r in registrations]
    for r in registrations:
        r.add(r.servicer, server)
    reflection.enable_server_reflection(
        [*names, reflection.SERVICE_NAME, health.SERVICE_NAME], server
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(bind)
        else:
            port = server.add_secure_port(bind, credentials)
    except RuntimeError as err:
        raise ListenError(f"cannot listen on {bind}: {err}") from err
    await server.start()
    for name in [*names, ""]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port


def open_channel(target: str, *, tls: TlsConfig, forward_caller: bool = False) -> grpc.aio.Channel:
    """A traced asyncio channel to another service ("host:port"), over TLS when
    ``tls`` has a certificate, whose calls carry the service key, or with
    ``forward_caller`` (the gateway) the key of the HTTP request being served
    (``eventclip.auth.interceptors``).
    Raises ConfigError when the TLS files cannot be read."""
    interceptors = [*aio_client_interceptors(), *client_interceptors(forward=forward_caller)]
    secure = channel_credentials(tls)
    if secure is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    credentials, options = secure
    return grpc.aio.secure_channel(
        target, credentials, options=[*CHANNEL_OPTIONS, *options], interceptors=interceptors
    )


def internal_error(what: str, err: BaseException) -> str:
    """Log ``err`` (with its traceback) under a new error id and return the
    message for the caller: the id only, so SQL, parameters and paths in the
    exception stay in the log."""
    error_id = uuid.uuid4().hex[:12]
    log.error("%s failed (error id %s)", what, error_id, exc_info=err)
    return f"internal error (error id {error_id}); the service log has the details"


def grpc_method(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a servicer method (coroutine or async generator) so that its
    request is checked first (``eventclip.validation.check_request``: no NUL or
    control characters, lengths, time ranges; INVALID_ARGUMENT naming the
    field), a ServiceError aborts the call with its status code and message, and any other
    exception is logged and aborts with INTERNAL instead of killing the stream
    (``internal_error``: the caller gets an error id, never the exception's text,
    which may hold SQL, parameters or paths)."""

    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                if isinstance(request, Message):
                    check_request(request)
                async for item in func(self, request, context):
                    yield item
            except ServiceError as err:
                await context.abort(err.code, str(err))
            except Exception as err:
                if isinstance(err, grpc.aio.AbortError):
                    raise
                await context.abort(
                    grpc.StatusCode.INTERNAL, internal_error(func.__qualname__, err)
                )

        return stream

    @functools.wraps(func)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if isinstance(request, Message):
                check_request(request)
            return await func(self, request, context)
        except ServiceError as err:
            await context.abort(err.code, str(err))
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            await context.abort(grpc.StatusCode.INTERNAL, internal_error(func.__qualname__, err))

    return unary


class RunningService(Protocol):
    """What every service's ``start(settings)`` returns (see eventclip.app)."""

    #: "buffer", "events", "clipper" or "gateway".
    name: str
    #: The port actually bound (differs from config when config says 0).
    port: int

    async def stop(self, grace: float) -> None:
        """Stop accepting work, let in-flight RPCs and jobs finish for up to
        ``grace`` seconds, then cancel what is left and release resources."""
        ...
