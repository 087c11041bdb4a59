"""Helpers of the clipper tests: a running clipper with a client, requests, errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import free_port

from eventclip.clipper.service import RunningClipper, start
from eventclip.config import load_settings
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc


@dataclass
class Harness:
    service: RunningClipper
    stub: clips_pb2_grpc.ClipServiceStub
    data_dir: Path


@contextlib.asynccontextmanager
async def running_clipper(tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    """The clipper service on a free port with cameras cam1 and cam2; no buffer
    runs (its address is a closed port), so jobs of future clips only wait."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "cameras": [
            {"id": "cam1", "source": "synthetic://"},
            {"id": "cam2", "source": "synthetic://"},
        ],
        "services": {"clipper": {"port": 0}, "buffer": {"port": free_port()}},
        "registers": [],
        "clips": {"max_seconds": 120, "pre_roll_seconds": 10, "post_roll_seconds": 5},
    }
    values.update(overrides)
    service = await start(load_settings(**values))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        yield Harness(service, clips_pb2_grpc.ClipServiceStub(channel), tmp_path)
    finally:
        await channel.close()
        await service.stop(0)


def later(minutes: float = 60) -> datetime:
    """An event time whose post-roll is far away: the job only waits."""
    return utcnow() + timedelta(minutes=minutes)


def request(**fields: object) -> clips_pb2.CreateClipRequest:
    values: dict[str, object] = {"camera_id": "cam1", "event_time": to_timestamp(later())}
    values.update(fields)
    return clips_pb2.CreateClipRequest(**values)


async def expect_error(call: object, code: grpc.StatusCode, words: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code
    assert words in info.value.details()
