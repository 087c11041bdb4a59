"""Runs services: all four in one process (``eventclip run``) or one
(``eventclip serve NAME``). Both go through each service's ``start(settings)``,
so the embedded demo and the containers run the same code over real gRPC."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Callable, Sequence

from eventclip import auth
from eventclip.config import Settings
from eventclip.rpc import RunningService
from eventclip.tls import http_scheme

log = logging.getLogger(__name__)

#: Start order: the buffer first (clipper reads it), the gateway last (it
#: fronts the rest). Shutdown goes in reverse, so in-flight work drains downstream-first.
SERVICE_NAMES: tuple[str, ...] = ("buffer", "clipper", "events", "gateway")


async def start_services(settings: Settings, names: Sequence[str]) -> list[RunningService]:
    """Start the named services in SERVICE_NAMES order; on a failure, stop the
    ones already started and re-raise."""
    started: list[RunningService] = []
    await asyncio.to_thread(auth.setup, settings)
    try:
        for name in [n for n in SERVICE_NAMES if n in names]:
            module = importlib.import_module(f"eventclip.{name}.service")
            started.append(await module.start(settings))
    except BaseException:
        await stop_services(started, grace=1.0)
        raise
    return started


async def stop_services(services: Sequence[RunningService], grace: float) -> None:
    """Stop services in reverse start order, each draining for up to ``grace`` s."""
    for service in reversed(services):
        try:
            await service.stop(grace)
        except Exception:  # keep stopping the others
            log.exception("stopping %s failed", service.name)


def describe(settings: Settings, services: Sequence[RunningService]) -> list[str]:
    """Human lines saying where each service listens."""
    lines = []
    for service in services:
        host = getattr(settings.services, service.name).host
        if service.name == "gateway":
            scheme = http_scheme(settings.tls)
        else:
            scheme = "grpcs" if settings.tls.enabled else "grpc"
        lines.append(f"{service.name:<8} {scheme}://{host}:{service.port}")
    return lines


async def serve_until_signalled(
    settings: Settings,
    names: Sequence[str],
    grace: float = 10.0,
    on_started: Callable[[list[RunningService]], None] | None = None,
) -> None:
    """Start the services, wait for SIGINT/SIGTERM, then stop them gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    services = await start_services(settings, names)
    if on_started:
        on_started(services)
    try:
        await stop.wait()
        log.info("shutting down (grace %.0f s)", grace)
    finally:
        await stop_services(services, grace)
