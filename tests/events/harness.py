"""Helpers of the events tests: settings, a running service with a client, events."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pluggy
import pytest
from backends import refund as refund_at
from conftest import BUILTIN_PLUGINS, free_port

from eventclip.config import Settings, load_settings
from eventclip.events.clips import ClipRetryPolicy
from eventclip.events.service import EventsService, start
from eventclip.events.types import PosEvent
from eventclip.retry import Backoff
from eventclip.v1 import events_pb2, events_pb2_grpc

REGISTER = "till-1"
BUILTIN_RULES = BUILTIN_PLUGINS
CAMERAS = ["cam1", "cam2"]
REASON = "refund of USD 500.00 without manager approval (over 100)"


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "cameras": [{"id": c, "source": "synthetic://"} for c in CAMERAS],
        "registers": [{"id": REGISTER, "cameras": CAMERAS}],
        "clips": {"pre_roll_seconds": 1, "post_roll_seconds": 1},
        # Nothing listens on the clipper's port: the clipper is down.
        "services": {"events": {"port": 0}, "clipper": {"port": free_port()}},
        "plugin_timeout_seconds": 0.5,
        "plugins": BUILTIN_RULES,
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class Events:
    service: EventsService
    stub: events_pb2_grpc.EventServiceStub
    settings: Settings

    async def submit(self, event: events_pb2.PosEvent) -> events_pb2.SubmitEventResponse:
        request = events_pb2.SubmitEventRequest(event=event)
        return await self.stub.SubmitEvent(request, timeout=15)

    async def alerts(self, **filters: Any) -> list[events_pb2.Alert]:
        request = events_pb2.ListAlertsRequest(page_size=1000, **filters)
        return list((await self.stub.ListAlerts(request, timeout=5)).alerts)


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    plugin_manager: pluggy.PluginManager | None = None,
    clip_retry: ClipRetryPolicy | None = None,
) -> AsyncIterator[Events]:
    service = await start(
        settings,
        plugin_manager=plugin_manager,
        clip_retry=clip_retry or ClipRetryPolicy(Backoff(initial=0.2, maximum=0.5), idle_poll=1),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield Events(service, events_pb2_grpc.EventServiceStub(channel), settings)
    finally:
        await service.stop(1.0)


def refund(**fields: Any) -> events_pb2.PosEvent:
    """An unapproved USD 500.00 refund at REGISTER a moment ago (lane 3)."""
    fields = {"register_id": REGISTER, "attributes": {"lane": "3"}, **fields}
    return refund_at(fields.pop("register_id"), **fields)


async def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


def make_event(**fields: Any) -> PosEvent:
    """A PosEvent for rule tests: an unapproved USD 500.00 refund unless overridden."""
    values: dict[str, Any] = {
        "event_id": "e-1",
        "type": "REFUND",
        "store_id": "s1",
        "register_id": "demo",
        "occurred_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "amount": Decimal("500.00"),
        "currency": "USD",
        "operator_id": "cashier-7",
    }
    values.update(fields)
    return PosEvent(**values)
