"""Pictures from the buffer: snapshot latency over REST and the CPU of sampling
frames for detectors, on a 1080p camera, beside bare PyAV doing the same work.

The camera is the street recording (../shared/media) scaled to 1920x1080 and
encoded once with libx264 at ~4 Mbps, 15 fps, 2 s GOPs (cached, ``--cache``),
replayed live as a ``file://`` camera by a real BufferService with the real
gateway in front, in this process. Rows:

* snapshot, warm: ``GET /api/v1/cameras/{id}/snapshot`` while the GOP has not
  changed (the JPEG is cached); cold: the first request after a new GOP
  (decode + JPEG). Reference: bare PyAV decoding the same keyframe and
  encoding the JPEG.
* sampling: this process's CPU per second of video while one SampleFrames
  stream is read at 0.5 fps (keyframes only) and at 1 and 5 fps (each GOP
  decoded up to its last frame due, non-reference pictures not due
  skipped), minus ingest alone. Reference: a bare PyAV loop decoding the
  same file with keyframes only (0.5 fps) or every frame (1 and 5 fps).
* the built-in hazard detector fed by SampleFrames at 0.5 and 1 fps, 640
  wide: the whole camera's cost, for the target of at most 5 % of one core.

    python bench/detectors.py [--seconds 20] [--cache PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import resource
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import grpc

from eventclip.buffer.service import start as start_buffer
from eventclip.config import load_settings
from eventclip.events.detectors import frame_of
from eventclip.gateway.service import start as start_gateway
from eventclip.media import pictures
from eventclip.plugins import hazard
from eventclip.rpc import CHANNEL_OPTIONS
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
SOURCE = SHARED / "street-bikes-640x272-25fps.mp4"
DEFAULT_CACHE = Path.home() / ".cache" / "eventclip" / "street-1080p-15fps.mp4"
FPS, GOP, BITRATE = 15, 30, 4_000_000


def build_camera(path: Path, seconds: float = 20.0) -> None:
    """The street recording looped to ``seconds``, scaled to 1080p, as H.264."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    with av.open(str(SOURCE)) as source:
        frames = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.bit_rate = BITRATE
        stream.options = {
            "g": str(GOP),
            "keyint_min": str(GOP),
            "sc_threshold": "0",
            "preset": "veryfast",
        }
        stream.time_base = Fraction(1, FPS)
        for n in range(int(seconds * FPS)):
            rgb = frames[int(n * 25 / FPS) % len(frames)]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(1920, 1080, "yuv420p")
            frame.pts = n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_snapshot(path: Path, runs: int) -> list[float]:
    """Seconds to decode one keyframe of ``path`` and make its JPEG, bare PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyframe = next(p for p in container.demux(stream) if p.is_keyframe)
        extradata, name = stream.codec_context.extradata or b"", stream.codec_context.name
        data = bytes(keyframe)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        decoder = av.CodecContext.create(name, "r")
        decoder.extradata = extradata
        frame = (decoder.decode(av.Packet(data)) + decoder.decode(None))[0]
        pictures.encode_jpeg(frame.reformat(format="yuvj420p"))
        samples.append(time.perf_counter() - started)
    return samples


def bare_decode_cpu(path: Path, keyframes_only: bool) -> float:
    """CPU seconds per second of video to decode ``path`` (keyframes only, or all)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "SLICE"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        started = cpu()
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")  # as SampleFrames hands out RGB
        duration = float(stream.duration * stream.time_base)
    return (cpu() - started) / duration


async def snapshot_rows(port: int, runs: int) -> dict[str, list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def get() -> tuple[float, str]:
        started = time.perf_counter()
        conn.request("GET", "/api/v1/cameras/street/snapshot")
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200, reply.status
        return time.perf_counter() - started, reply.headers["etag"]

    warm, cold = [], []
    _, etag = await asyncio.to_thread(get)
    while len(cold) < runs or len(warm) < runs:
        elapsed, new_etag = await asyncio.to_thread(get)
        (cold if new_etag != etag else warm).append(elapsed)
        etag = new_etag
        await asyncio.sleep(0.05)
    return {"warm": warm[:runs], "cold": cold[:runs]}


async def sampling_cpu(target: str, fps: float, seconds: float) -> float:
    """CPU seconds of this process per second while one SampleFrames is read."""
    # A 1080p RGB frame is 6.2 MB, over gRPC's 4 MiB default.
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        stub = buffer_pb2_grpc.BufferServiceStub(channel)
        call = stub.SampleFrames(buffer_pb2.SampleFramesRequest(camera_id="street", fps=fps))
        await call.read()  # the first frame: the sampler is running
        started, wall = cpu(), time.monotonic()
        while time.monotonic() - wall < seconds:
            frame = await call.read()
            assert frame is not grpc.aio.EOF
        used = (cpu() - started) / (time.monotonic() - wall)
        call.cancel()
    return used


async def hazard_cpu(target: str, fps: float, seconds: float) -> float:
    """CPU seconds of this process per second while SampleFrames at ``fps``,
    640 wide, feeds the built-in hazard detector (as the events service does)."""
    options = hazard.HazardOptions(region=[(0, 0.7), (1, 0.7), (1, 1), (0, 1)])
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        stub = buffer_pb2_grpc.BufferServiceStub(channel)
        request = buffer_pb2.SampleFramesRequest(camera_id="street", fps=fps, max_width=640)
        call = stub.SampleFrames(request)
        await call.read()
        started, wall = cpu(), time.monotonic()
        while time.monotonic() - wall < seconds:
            message = await call.read()
            assert message is not grpc.aio.EOF
            hazard.detect(frame_of(message), options)
        used = (cpu() - started) / (time.monotonic() - wall)
        call.cancel()
    return used


async def measure(camera: Path, seconds: float, runs: int) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            data_dir=Path(tmp),
            cameras=[{"id": "street", "source": f"file://{camera}", "buffer_seconds": 30}],
            registers=[],
            services={"buffer": {"port": 0}, "gateway": {"port": 0}},
        )
        buffer = await start_buffer(settings)
        settings.services.buffer.port = buffer.port
        gateway = await start_gateway(settings)
        try:
            await asyncio.sleep(3)  # a couple of GOPs buffered
            snapshots = await snapshot_rows(gateway.port, runs)
            idle_start, wall = cpu(), time.monotonic()
            await asyncio.sleep(seconds)
            ingest = (cpu() - idle_start) / (time.monotonic() - wall)
            target = f"127.0.0.1:{buffer.port}"
            sampling = {
                fps: await sampling_cpu(target, fps, seconds) - ingest for fps in (0.5, 1, 5)
            }
            for fps in (0.5, 1):
                sampling[f"hazard {fps:g}"] = await hazard_cpu(target, fps, seconds) - ingest
            sampling["ingest alone"] = ingest
        finally:
            await gateway.stop(1)
            await buffer.stop(1)
    return snapshots, sampling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    if not args.cache.is_file():
        print(f"encoding the 1080p camera once -> {args.cache}", flush=True)
        build_camera(args.cache)
    snapshots, sampling = asyncio.run(measure(args.cache, args.seconds, args.runs))
    bare = bare_snapshot(args.cache, args.runs)
    ms = lambda xs: f"{1000 * statistics.median(xs):7.1f}"  # noqa: E731
    p95 = lambda xs: f"{1000 * sorted(xs)[int(0.95 * (len(xs) - 1))]:7.1f}"  # noqa: E731
    print(f"\n1920x1080 H.264 ~4 Mbps, {FPS} fps, GOP {GOP}; {args.runs} requests per row\n")
    print(f"{'snapshot over REST':<44} {'median ms':>9} {'p95 ms':>7} {'x bare':>7}")
    for kind in ("warm", "cold"):
        ratio = statistics.median(snapshots[kind]) / statistics.median(bare)
        print(
            f"{kind + ' (GET /cameras/{id}/snapshot)':<44} {ms(snapshots[kind]):>9} {p95(snapshots[kind]):>7} {ratio:>7.2f}"
        )
    print(f"{'bare PyAV: decode keyframe + JPEG':<44} {ms(bare):>9} {p95(bare):>7} {1.0:>7.2f}")
    print(f"\n{'CPU, % of one core per camera':<44} {'eventclip':>9} {'bare':>7} {'x bare':>7}")
    print(
        f"{'ingest alone (no decoding)':<44} {100 * sampling['ingest alone']:>9.1f} {'-':>7} {'-':>7}"
    )
    for fps in (0.5, 1, 5):
        bare_cpu = bare_decode_cpu(args.cache, keyframes_only=fps < FPS / GOP + 1e-9)
        label = f"SampleFrames at {fps:g} fps (" + (
            "keyframes)" if fps <= FPS / GOP else "GOP to the frame due)"
        )
        print(
            f"{label:<44} {100 * sampling[fps]:>9.1f} {100 * bare_cpu:>7.1f} {sampling[fps] / bare_cpu:>7.2f}"
        )
    for fps in (0.5, 1):
        hazard_label = f"hazard + SampleFrames, {fps:g} fps, 640 wide"
        print(f"{hazard_label:<44} {100 * sampling[f'hazard {fps:g}']:>9.1f} {'-':>7} {'-':>7}")


if __name__ == "__main__":
    main()
