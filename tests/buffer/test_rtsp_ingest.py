"""Ingest from a REAL RTSP server: GStreamer's gst-rtsp-server (run with the
system Python, which has the gi bindings) serves the street recording live
over RTP/TCP. The buffer must keep the first GOP of a connection (FFmpeg
gives its keyframe no timestamps), come ONLINE, hold keyframe-aligned windows,
go OFFLINE within its read timeout when the server freezes (accepts but sends
nothing), and come back when the server returns on the same port.

GStreamer's ``multifilesrc loop=true ! qtdemux`` does not loop an MP4 (qtdemux
sends EOS after the first pass), so the fixture serves a copy looped by
``ffmpeg -stream_loop`` (stream copy, continuous timestamps) instead.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import free_port

from eventclip.buffer.service import Buffer, start
from eventclip.config import CameraConfig, load_settings
from eventclip.retry import Backoff
from eventclip.timeutil import duration_seconds, timestamp_seconds, to_timestamp
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

from .media import decoded_pts

pytestmark = pytest.mark.rtsp

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
READ_TIMEOUT = 2.0


def require_gstreamer() -> None:
    """Fail (not skip) with what to install when the RTSP server cannot run."""
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.fail(
            "GStreamer's RTSP server is not usable from /usr/bin/python3 (install python3-gi, "
            "gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-{base,good,bad}): "
            + probe.stderr.strip()[-500:]
        )
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg CLI is needed to loop the recording for the RTSP server")


@pytest.fixture(scope="module")
def looped_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import STREET_BIKES

    if not STREET_BIKES.is_file():
        pytest.skip(f"{STREET_BIKES} not present")
    require_gstreamer()
    out = tmp_path_factory.mktemp("rtsp") / "street-looped.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-stream_loop",
            "11",
            "-i",
            str(STREET_BIKES),
            "-c",
            "copy",
            str(out),
        ],
        check=True,
    )
    return out


class RtspServer:
    """gst-rtsp-server in a subprocess on a fixed port (restartable)."""

    def __init__(self, media: Path, port: int) -> None:
        self.media, self.port = media, port
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.media), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "READY rtsp://..." or EOF on failure
        if not line.startswith("READY"):
            self.process.kill()
            _, err = self.process.communicate(timeout=5)
            pytest.fail(f"RTSP server did not start: {line!r} {err[-500:]}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def rtsp_server(looped_recording: Path) -> Iterator[RtspServer]:
    server = RtspServer(looped_recording, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def wait_for(
    stub: buffer_pb2_grpc.BufferServiceStub, what: str, check, within: float
) -> buffer_pb2.Camera:
    deadline = time.monotonic() + within
    while True:
        camera = await stub.GetCamera(buffer_pb2.GetCameraRequest(id="cam"))
        if check(camera):
            return camera
        if time.monotonic() > deadline:
            pytest.fail(f"camera not {what} within {within} s: {camera}")
        await asyncio.sleep(0.1)


async def test_the_first_gop_after_connecting_is_kept_with_recovered_timestamps(
    rtsp_server: RtspServer,
) -> None:
    buffer = Buffer(
        [CameraConfig(id="cam", source=rtsp_server.url, buffer_seconds=30)],
        max_window_seconds=60,
        open_timeout=3.0,
        read_timeout=READ_TIMEOUT,
    )
    ring = buffer.camera("cam").ring
    connecting = time.time()
    buffer.start_ingest()
    try:
        deadline = time.monotonic() + 15
        while ring.stats().gop_count < 2:
            assert time.monotonic() < deadline, f"no second GOP within 15 s: {ring.stats()}"
            await asyncio.sleep(0.05)
        seen = time.time()
        held = ring.read(ring.first_seq)
    finally:
        await buffer.stop_ingest()
    second = next(i for i, p in enumerate(held) if i and p.keyframe)
    gop, key, next_key = held[:second], held[0], held[second]
    tick = key.duration  # one frame: 3600 ticks of 1/90000 s at 25 fps
    assert key.keyframe and tick == 3600

    # A fresh server starts the stream for this client, and FFmpeg's RTP
    # demuxer counts pts from the first RTP timestamp: the frame that opens
    # the connection has pts 0, which the recovery must reproduce.
    assert key.pts == 0
    # Decode order is one frame per packet, running on into the dts the
    # demuxer stamped itself.
    assert [b.dts - a.dts for a, b in itertools.pairwise(held[: second + 1])] == [tick] * second
    # The keyframe leads its dts by the reorder delay, as every later one does.
    assert key.pts - key.dts == next_key.pts - next_key.dts == 2 * tick
    # The GOP fills consecutive presentation slots, the keyframe first.
    assert sorted(p.pts for p in gop) == [key.pts + i * tick for i in range(second)]
    assert all(p.pts >= p.dts for p in gop)

    # Wall time: anchored on the keyframe's own arrival, one timeline.
    assert connecting <= key.wall_time <= seen
    assert {p.timeline_id for p in held[: second + 1]} == {key.timeline_id}
    time_base = ring.codec(key.timeline_id).time_base
    assert next_key.wall_time - key.wall_time == pytest.approx(
        float((next_key.pts - key.pts) * time_base)
    )
    # And the GOP decodes from its keyframe, every frame where its pts says.
    assert decoded_pts(gop, ring.codec(key.timeline_id).extradata) == sorted(p.pts for p in gop)


async def test_rtsp_camera_online_offline_and_back(rtsp_server: RtspServer, tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        cameras=[{"id": "cam", "source": rtsp_server.url, "buffer_seconds": 30}],
        registers=[],
        services={"buffer": {"port": 0}},
    )
    buffer = Buffer(
        settings.cameras,
        max_window_seconds=60,
        open_timeout=3.0,
        read_timeout=READ_TIMEOUT,
        backoff=Backoff(initial=0.3, maximum=1.0),
    )
    rtsp_server.stop()  # the camera refuses connections at first
    service = await start(settings, buffer=buffer)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    stub = buffer_pb2_grpc.BufferServiceStub(channel)
    try:
        camera = await wait_for(
            stub, "retrying a third time", lambda c: "(retry 3 in" in c.status_message, 15
        )
        assert camera.state == buffer_pb2.Camera.OFFLINE
        assert "cannot open source" in camera.status_message
        rtsp_server.start()
        camera = await wait_for(
            stub, "buffering 3 s", lambda c: duration_seconds(c.buffered_duration) >= 3.0, 15
        )
        assert camera.state == buffer_pb2.Camera.ONLINE
        assert (camera.codec.codec_name, camera.codec.width, camera.codec.height) == (
            "h264",
            640,
            272,
        )
        assert (camera.codec.time_base_num, camera.codec.time_base_den) == (1, 90_000)
        assert 23.0 < camera.fps < 27.0
        assert camera.gop_count >= 2

        newest = timestamp_seconds(camera.newest_time)
        request = buffer_pb2.ReadWindowRequest(
            camera_id="cam",
            start_time=to_timestamp(newest - 2.0),
            end_time=to_timestamp(newest - 0.5),
        )
        messages = [m async for m in stub.ReadWindow(request, timeout=10)]
        assert messages[0].codec.codec_name == "h264"
        packets = [p for m in messages[1:] for p in m.packets.packets]
        assert packets[0].keyframe and timestamp_seconds(packets[0].wall_time) <= newest - 2.0
        assert len(packets) >= 1.5 * 25 - 2

        # Frozen server: the TCP connection stays open but nothing arrives.
        rtsp_server.signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        camera = await wait_for(
            stub, "OFFLINE", lambda c: c.state == buffer_pb2.Camera.OFFLINE, READ_TIMEOUT + 5
        )
        # Packets already in flight drain first; then the read timeout fires.
        silent = duration_seconds(camera.last_packet_age)
        print(
            f"offline {time.monotonic() - frozen_at:.1f} s after the freeze, "
            f"{silent:.1f} s after the last packet: {camera.status_message}"
        )
        assert READ_TIMEOUT - 0.2 <= silent <= READ_TIMEOUT + 1.5
        assert "read timeout" in camera.status_message
        # That connection delivered keyframes: the backoff starts over, though
        # it ended in an error.
        assert "(retry 1 in" in camera.status_message
        before = camera.reconnects

        rtsp_server.stop()
        rtsp_server.start()  # same port
        camera = await wait_for(
            stub,
            "back ONLINE",
            lambda c: c.state == buffer_pb2.Camera.ONLINE and c.reconnects > before,
            15,
        )
        assert camera.status_message == ""
        assert (
            camera.codec.timeline_id != messages[0].codec.timeline_id
        )  # a reconnect is a new timeline
    finally:
        await channel.close()
        await service.stop(grace=1.0)
    assert all(c.worker and c.worker.join(0) for c in buffer.cameras.values())
