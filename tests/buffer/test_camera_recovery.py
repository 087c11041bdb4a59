"""Cameras recover in seconds: a real RTSP server (gst-rtsp-server) behind a
fault-injecting TCP proxy, the buffer's ingest with its default reconnect
delays (0.5 s doubling up to ``reconnect_max_seconds``, 5 s), faults injected
again and again:

* a healthy connection reset (RST): packets flow again <= 2 s after (median
  over 30 resets): the delays start over once a connection delivers a keyframe;
* connections refused for a while: packets flow again <= the 5 s cap (plus the
  connect) after the port listens again;
* a blackhole (open, silent): the camera goes OFFLINE <= the read timeout after
  the last packet, and recovers once the path heals.

It prints the figures (median and max per fault kind).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator

import pytest

from eventclip.buffer.service import Buffer, BufferedCamera
from eventclip.buffer.worker import CameraState
from eventclip.config import CameraConfig

from .fault_proxy import FaultProxy
from .test_rtsp_ingest import RtspServer, looped_recording  # noqa: F401 - the fixture

RESETS = 30
REFUSALS = 3
REFUSED_SECONDS = 6.0  # long enough for the delays to reach the cap
READ_TIMEOUT = 3.0
RECONNECT_MAX = 5.0


@pytest.fixture
def proxied_camera(looped_recording) -> Iterator[FaultProxy]:  # type: ignore[no-untyped-def]  # noqa: F811
    from conftest import free_port

    server = RtspServer(looped_recording, free_port())
    server.start()
    proxy = FaultProxy(server.port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
        server.stop()


async def until(condition: Callable[[], bool], within: float, what: str) -> float:
    """Poll every 10 ms; the monotonic time the condition first held."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {within} s"
        await asyncio.sleep(0.01)
    return time.monotonic()


async def next_connection_delivers(cam: BufferedCamera, within: float) -> float:
    """Wait for a reconnect and its first packet in the ring; when it arrived."""
    reconnects = cam.worker.status.reconnects  # type: ignore[union-attr]
    await until(
        lambda: cam.worker.status.reconnects > reconnects,  # type: ignore[union-attr]
        within,
        "reconnected",
    )
    seq = cam.ring.next_seq
    return await until(lambda: cam.ring.next_seq > seq, within, "delivering packets")


def figures(name: str, samples: list[float]) -> str:
    return (
        f"{name:<28} n={len(samples):>2}  median {statistics.median(samples):5.2f} s  "
        f"max {max(samples):5.2f} s"
    )


async def test_cameras_recover_in_seconds(proxied_camera: FaultProxy) -> None:
    proxy = proxied_camera
    config = CameraConfig(
        id="cam",
        source=f"rtsp://127.0.0.1:{proxy.port}/cam",
        buffer_seconds=30,
        reconnect_max_seconds=RECONNECT_MAX,
    )
    buffer = Buffer([config], max_window_seconds=60, open_timeout=3.0, read_timeout=READ_TIMEOUT)
    buffer.start_ingest()
    cam = buffer.camera("cam")
    try:
        await until(lambda: cam.ring.stats().gop_count >= 2, 20, "buffering")

        resets = []
        for _ in range(RESETS):
            proxy.reset()
            reset_at = time.monotonic()
            resets.append(await next_connection_delivers(cam, 10) - reset_at)
        refusals = []
        for _ in range(REFUSALS):
            proxy.refuse()
            proxy.reset()
            await asyncio.sleep(REFUSED_SECONDS)
            proxy.accept()
            back_at = time.monotonic()
            refusals.append(await next_connection_delivers(cam, RECONNECT_MAX + 10) - back_at)

        proxy.blackhole()
        await until(lambda: cam.worker.status.state == CameraState.OFFLINE, 20, "OFFLINE")  # type: ignore[union-attr]
        silent = time.time() - cam.worker.status.last_packet_arrival  # type: ignore[union-attr,operator]
        proxy.heal()
        healed_at = time.monotonic()
        healed = await next_connection_delivers(cam, RECONNECT_MAX + 10) - healed_at
    finally:
        await buffer.stop_ingest()

    print()
    print(figures("reset -> packets", resets))
    print(figures(f"refused {REFUSED_SECONDS:g} s -> packets", refusals))
    print(f"{'blackhole -> OFFLINE':<28} {silent:.2f} s after the last packet")
    print(f"{'healed -> packets':<28} {healed:.2f} s")
    assert statistics.median(resets) <= 2.0
    assert max(refusals) <= RECONNECT_MAX + 2.0  # the cap, then connect and first keyframe
    assert silent <= READ_TIMEOUT + 1.0
    assert healed <= RECONNECT_MAX + 2.0 + 3.0  # a connect attempt may be in its open timeout
