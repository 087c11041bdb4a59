"""Buffer benchmark: memory per camera, window selection, ReadWindow over gRPC,
and the CPU cost of ingesting one RTSP camera.

1. Memory: a ring bounded at ``--window`` seconds filled with 1920x1080@15
   H.264 at 4 Mbps (GOP 30). Ten seconds are encoded by libx264 and repeated
   with shifted timestamps (fresh ``bytes`` each time, so memory is real) until
   the ring has evicted for 30 s. Compares the bytes held and everything Python
   allocated (tracemalloc) with bitrate x window.
2. Selection: ``PacketRing.window`` of 60 s on that ring (bisect + one GOP scan).
3. ReadWindow: the same 60 s window streamed over loopback gRPC.
4. RTSP ingest: the street recording served live by gst-rtsp-server (system
   Python with gi), ingested for ``--rtsp-seconds`` by one camera worker;
   process CPU time over wall time.

    python bench/buffer_ingest.py [--window 120] [--rtsp-seconds 10] [--no-rtsp]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

from eventclip.buffer import service as buffer_service
from eventclip.buffer.ring import BufferedPacket, CodecParams, PacketRing
from eventclip.buffer.service import Buffer
from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec
from eventclip.buffer.worker import CameraState
from eventclip.config import CameraConfig, load_settings
from eventclip.rpc import open_channel
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
STREET_BIKES = REPO.parent / "shared" / "media" / "street-bikes-640x272-25fps.mp4"
SPEC = SyntheticSpec(width=1920, height=1080, fps=15, gop_frames=30, bitrate=4_000_000)
ENCODED_SECONDS = 10
FFMPEG_LOOP = ("ffmpeg", "-v", "error", "-stream_loop")
ZERO = 1_700_000_000.0


def encode_base() -> list[tuple[bytes, int, int, int, bool]]:
    encoder = SyntheticEncoder(SPEC)
    return [
        (bytes(p), p.pts, p.dts, p.duration or 1, p.is_keyframe)
        for p in encoder.packets(SPEC.fps * ENCODED_SECONDS)
    ]


def fill(ring: PacketRing, base: list, seconds: float) -> float:
    """Append ``seconds`` of packets (base repeated); returns bits per second."""
    codec = CodecParams(
        "h264",
        b"",
        SPEC.width,
        SPEC.height,
        Fraction(1, SPEC.fps),
        Fraction(SPEC.fps),
        "yuv420p",
        1,
    )
    frames = SPEC.fps * ENCODED_SECONDS
    total = 0
    for n in range(int(seconds * SPEC.fps)):
        data, pts, dts, duration, key = base[n % frames]
        shift = (n // frames) * frames
        packet = BufferedPacket(
            bytes(bytearray(data)),  # a fresh object: memory is not shared between repeats
            pts + shift,
            dts + shift,
            duration,
            key,
            ZERO + (pts + shift) / SPEC.fps,
            1,
        )
        ring.append(packet, codec)
        total += len(data)
    return total * 8 / seconds


def median_us(func, runs: int) -> float:
    timings = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        timings.append(time.perf_counter() - t0)
    return statistics.median(timings) * 1e6


async def read_window_grpc(ring: PacketRing, start: float, end: float, runs: int) -> list[float]:
    settings = load_settings(
        cameras=[{"id": "cam", "source": "synthetic://", "buffer_seconds": ring.max_seconds}],
        registers=[],
        services={"buffer": {"port": 0}},
    )
    buffer = Buffer(settings.cameras, max_window_seconds=600)
    buffer.camera("cam").ring = ring
    service = await buffer_service.start(settings, buffer=buffer, ingest=False)
    timings = []
    try:
        async with open_channel(f"127.0.0.1:{service.port}", tls=settings.tls) as channel:
            stub = buffer_pb2_grpc.BufferServiceStub(channel)
            request = buffer_pb2.ReadWindowRequest(
                camera_id="cam", start_time=to_timestamp(start), end_time=to_timestamp(end)
            )
            for _ in range(runs):
                t0 = time.perf_counter()
                n = sum([len(m.packets.packets) async for m in stub.ReadWindow(request)])
                timings.append(time.perf_counter() - t0)
            assert n > 0
    finally:
        await service.stop(1.0)
    return timings


async def ingest_cpu(url: str, seconds: float) -> tuple[float, float, int]:
    """(CPU % of one core, packets per second, ring bytes) ingesting one camera."""
    buffer = Buffer([CameraConfig(id="cam", source=url)], max_window_seconds=600)
    buffer.start_ingest()
    cam = buffer.camera("cam")
    try:
        for _ in range(200):
            if cam.status.state == CameraState.ONLINE:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"camera never came online: {cam.status}")
        await asyncio.sleep(1.0)
        packets0, cpu0, t0 = len(cam.ring), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        return 100 * cpu / wall, (len(cam.ring) - packets0) / wall, cam.ring.stats().buffered_bytes
    finally:
        await buffer.stop_ingest()


def rtsp_cpu(seconds: float) -> tuple[float, float, int]:
    """Serve the street recording (looped) over RTSP and measure ingest_cpu."""
    with tempfile.TemporaryDirectory() as tmp:
        looped = Path(tmp) / "looped.mp4"
        loops = str(int(seconds // 10) + 2)
        subprocess.run(
            [*FFMPEG_LOOP, loops, "-i", str(STREET_BIKES), "-c", "copy", str(looped)],
            check=True,
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            ["/usr/bin/python3", str(REPO / "tests/buffer/rtsp_server.py"), str(looped), str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout and server.stdout.readline().startswith("READY")
            return asyncio.run(ingest_cpu(f"rtsp://127.0.0.1:{port}/cam", seconds))
        finally:
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=120.0, help="ring bound, seconds")
    parser.add_argument("--rtsp-seconds", type=float, default=10.0)
    parser.add_argument("--no-rtsp", action="store_true")
    args = parser.parse_args()

    print(f"encoding {ENCODED_SECONDS} s of {SPEC.width}x{SPEC.height}@{SPEC.fps} ...", flush=True)
    base = encode_base()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ring = PacketRing(max_seconds=args.window, max_bytes=1 << 34)
    bitrate = fill(ring, base, args.window + 30)
    python_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    stats = ring.stats()
    nominal = bitrate * args.window / 8
    rows = [
        ("ring bound", f"{args.window:g} s"),
        ("measured bitrate", f"{bitrate / 1e6:.2f} Mbit/s (target {SPEC.bitrate / 1e6:g})"),
        ("bitrate x window", f"{nominal / 1e6:.1f} MB"),
        (
            "packet bytes held",
            f"{stats.buffered_bytes / 1e6:.1f} MB ({stats.gop_count} GOPs, "
            f"{stats.buffered_seconds:.1f} s)",
        ),
        (
            "Python memory of the ring",
            f"{python_bytes / 1e6:.1f} MB = {python_bytes / nominal:.3f} x bitrate x window",
        ),
    ]
    newest = stats.newest_time or 0.0
    start, end = newest - 70.0, newest - 10.0
    window = ring.window(start, end)
    rows.append(
        ("60 s window", f"{len(window)} packets, {sum(len(p.data) for p in window) / 1e6:.1f} MB")
    )
    rows.append(
        ("select 60 s window (median)", f"{median_us(lambda: ring.window(start, end), 200):.0f} us")
    )
    rows.append(
        ("find_start (median)", f"{median_us(lambda: ring.find_start(start), 2000):.1f} us")
    )
    grpc_times = asyncio.run(read_window_grpc(ring, start, end, 5))
    rows.append(
        ("ReadWindow 60 s over gRPC (median of 5)", f"{statistics.median(grpc_times) * 1e3:.0f} ms")
    )
    if not args.no_rtsp:
        cpu, pps, held = rtsp_cpu(args.rtsp_seconds)
        rows.append(
            (
                f"RTSP ingest, 1 camera, {args.rtsp_seconds:g} s",
                f"{cpu:.1f} % of one core, {pps:.1f} packets/s, {held / 1e3:.0f} kB held",
            )
        )
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
