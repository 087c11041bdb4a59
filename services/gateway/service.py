"""Run the gateway: uvicorn serving create_app(settings) inside the caller's event
loop, so it can share a process with the gRPC services (``eventclip run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from collections.abc import Iterator

import uvicorn

from eventclip.config import ListenError, Settings
from eventclip.gateway.app import create_app
from eventclip.tls import uvicorn_options

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its SIGINT/SIGTERM handlers: the process owner handles
    signals and calls GatewayService.stop(), as for the gRPC services."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0 = any free port). Bound here rather
    than by uvicorn, which calls sys.exit() when it cannot bind.

    Made with proto IPPROTO_TCP, which accepted sockets inherit: asyncio sets
    TCP_NODELAY only on sockets whose proto says TCP (selector_events
    ``_set_nodelay``). With proto 0 every response waited ~40 ms for Nagle's
    algorithm to meet the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise ListenError(f"gateway cannot listen on {host}:{port}: {err.strerror}") from err
    sock.setblocking(False)
    return sock


class GatewayService:
    """The running gateway (eventclip.rpc.RunningService)."""

    name = "gateway"

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], port: int) -> None:
        self._server = server
        self._task = task
        self.port = port

    async def stop(self, grace: float) -> None:
        """Stop accepting connections, let in-flight requests (video downloads
        included) finish for up to ``grace`` seconds, then cancel them; the
        lifespan shutdown closes the gRPC channels."""
        if self._task.done():
            return
        # uvicorn cancels its own request tasks once this has passed.
        self._server.config.timeout_graceful_shutdown = max(1, math.ceil(grace))
        self._server.should_exit = True
        try:
            # Shield: a timeout here must not cancel uvicorn mid-shutdown before
            # we decide to; the slack covers the lifespan shutdown after grace.
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace + 2.0)
        except TimeoutError:
            log.warning("gateway did not stop within %.1f s; cancelling", grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start(settings: Settings) -> GatewayService:
    """Serve the gateway on ``settings.services.gateway.bind`` (port 0 = any free
    port; the bound one is ``.port``), HTTPS when ``settings.tls`` has a
    certificate, in the running event loop. Returns once
    the app's startup (opening the gRPC channels) has finished and it accepts
    connections. Raises RuntimeError when the port cannot be bound or startup
    fails, ConfigError when the TLS files cannot be read.
    """
    address = settings.services.gateway
    tls_options = uvicorn_options(settings.tls)
    sock = _bind(address.host, address.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        log_config=None,
        # The access log is per request; traces and the app's own logs suffice.
        access_log=False,
        **tls_options,
    )
    server = _EmbeddedServer(config)

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as err:
            # uvicorn exits the process when lifespan startup fails; keep the
            # failure inside this task instead.
            raise RuntimeError(f"gateway startup failed (uvicorn exit {err.code})") from err

    task = asyncio.create_task(serve(), name="gateway")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises the startup failure
            raise RuntimeError("gateway stopped during startup")
        await asyncio.sleep(0.01)
    log.info("gateway listening on %s:%d", address.host, port)
    return GatewayService(server, task, port)
