"""Clip latency: a live clip once its post-roll is buffered, and a past window over REST.

The window is the design target (60 s of 1920x1080 H.264, 4 Mbps, 15 fps, GOP 30;
made once by bench/remux.py and cached). A real BufferService (ingest off, packets
injected into its ring), a real ClipService and a real gateway run on loopback in
this process, as ``eventclip run`` runs them.

Rows (each run uses a fresh camera ring):

* live post-roll (gRPC): the first 59.5 s of the window are put in the ring with
  wall times in the past, the clip is requested (event at 30 s, pre-roll 30 s,
  post-roll 29.9 s), and the last half second of packets is appended in real
  time, as a camera would deliver it. The clock starts when the packet that ends
  the post-roll enters the ring and stops when GetClip says READY.
* past window (gRPC): the whole window is buffered before CreateClip; the clock
  runs from CreateClip to READY.
* past window (REST): the same, as a person asks for it: ``POST /api/v1/clips``
  through the gateway, then ``GET /api/v1/clips/{id}`` until READY, from a client
  in another process (a browser or curl is not in the server's process either).

Every clip's MP4 is kept, and so is every ffmpeg output (a new file per run):
writing 30 MB into page cache that was never used costs far more on a virtual
machine whose RAM the host backs on first touch (~4 ms per MB on this one) than
rewriting recycled pages, and both sides must pay the same.

Clips are polled every 10 ms, so a figure may be up to 10 ms late (a tighter poll
competes with the cut for the CPU). The reference is the ffmpeg CLI cutting the
same window from an MP4 file (`-ss 0 -t 60 -c copy -movflags +faststart`), run in
the same process run; every row prints its ratio to the reference's median.

Beside the wall time each row gives the CPU time it cost (user + system, median):
for the clips, this process's (every service, the polls it answers included)
over the same interval; for ffmpeg, its process's. On a shared machine the wall
times move with the load; the CPU times much less.

    python bench/clip_latency.py [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from remux import DEFAULT_CACHE, SECONDS, build_window, ffmpeg_cut_timings, load_window

from eventclip.buffer.service import start as start_buffer
from eventclip.clipper.service import start as start_clipper
from eventclip.config import load_settings
from eventclip.gateway.service import start as start_gateway
from eventclip.media.timelines import timelines_from_responses
from eventclip.rpc import open_channel
from eventclip.testing import ring_input
from eventclip.timeutil import to_duration, to_timestamp
from eventclip.v1 import buffer_pb2, clips_pb2, clips_pb2_grpc

TAIL_SECONDS = 0.5
POST_ROLL = SECONDS / 2 - 0.1  # ends on the last packet of the window
POLL_SECONDS = 0.010
LIVE, PAST_GRPC, PAST_REST = "live", "past-grpc", "past-rest"
ROWS = {
    LIVE: "live: post-roll buffered -> READY (gRPC)",
    PAST_GRPC: "past window: CreateClip -> READY (gRPC)",
    PAST_REST: "past window: POST /clips -> READY (REST)",
}


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_ready(stub: clips_pb2_grpc.ClipServiceStub, clip_id: str) -> clips_pb2.Clip:
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id))
        if clip.state in (clips_pb2.Clip.READY, clips_pb2.Clip.FAILED):
            if clip.state == clips_pb2.Clip.FAILED:
                raise RuntimeError(f"clip {clip_id} FAILED: {clip.failure_reason}")
            return clip
        await asyncio.sleep(POLL_SECONDS)


def rest_client(conn: Connection, port: int) -> None:
    """Child process: for each (camera, event time) received, POST a manual clip
    to the gateway and GET it until READY; send back the seconds that took."""
    server = http.client.HTTPConnection("127.0.0.1", port)  # keep-alive, TCP_NODELAY
    while (job := conn.recv()) is not None:
        camera, event_time = job
        body = json.dumps(
            {
                "cameraId": camera,
                "timestamp": event_time,
                "preRollSeconds": SECONDS / 2,
                "postRollSeconds": POST_ROLL,
            }
        )
        started = time.perf_counter()
        server.request("POST", "/api/v1/clips", body, {"content-type": "application/json"})
        reply = server.getresponse()
        clip = json.loads(reply.read())
        if reply.status != 202:
            conn.send(RuntimeError(f"POST /api/v1/clips answered {reply.status}: {clip}"))
            continue
        while clip["state"] not in ("READY", "FAILED"):
            time.sleep(POLL_SECONDS)
            server.request("GET", f"/api/v1/clips/{clip['id']}")
            clip = json.loads(server.getresponse().read())
        elapsed = time.perf_counter() - started
        failed = clip["state"] == "FAILED"
        conn.send(RuntimeError(f"clip FAILED: {clip['failureReason']}") if failed else elapsed)


class RestClient:
    """The REST client process, driven from the event loop."""

    def __init__(self, port: int) -> None:
        self._conn, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=rest_client, args=(child, port), daemon=True
        )
        self._process.start()

    async def clip(self, camera: str, event_time: float) -> float:
        self._conn.send((camera, datetime.fromtimestamp(event_time, UTC).isoformat()))
        answer = await asyncio.to_thread(self._conn.recv)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(10)


async def measure(
    runs: int, window: list[buffer_pb2.ReadWindowResponse], data_dir: Path
) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds per run for each row of ROWS; the first round is warm-up."""
    timeline = timelines_from_responses(window)[0]
    kinds = [LIVE, PAST_GRPC, PAST_REST]
    rounds = runs + 1
    cameras = [
        {"id": f"bench-{i}", "source": "synthetic://", "buffer_seconds": 90}
        for i in range(len(kinds) * rounds)
    ]
    settings = load_settings(
        data_dir=data_dir,
        cameras=cameras,
        registers=[],
        services={"buffer": {"port": 0}, "clipper": {"port": 0}, "gateway": {"port": 0}},
    )
    buffer = await start_buffer(settings, ingest=False)
    settings.services.buffer.port = buffer.port
    clipper = await start_clipper(settings)
    settings.services.clipper.port = clipper.port
    gateway = await start_gateway(settings)
    rest = RestClient(gateway.port)
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    try:
        async with open_channel(f"127.0.0.1:{clipper.port}", tls=settings.tls) as channel:
            stub = clips_pb2_grpc.ClipServiceStub(channel)
            for n in range(len(kinds) * rounds):
                kind = kinds[n % len(kinds)]
                camera = f"bench-{n}"
                ring = buffer.buffer.camera(camera).ring
                live = kind == LIVE
                first_wall = time.time() - (SECONDS - TAIL_SECONDS if live else SECONDS + 2)
                codec, packets = ring_input(timeline, first_wall)
                now = time.time()
                head = [p for p in packets if p.wall_time <= now] if live else packets
                for packet in head:
                    ring.append(packet, codec)
                event_time = first_wall + SECONDS / 2
                cpu_started = cpu_seconds()
                if kind == PAST_REST:
                    elapsed = await rest.clip(camera, event_time)
                else:
                    request = clips_pb2.CreateClipRequest(
                        camera_id=camera,
                        event_time=to_timestamp(event_time),
                        pre_roll=to_duration(SECONDS / 2),
                        post_roll=to_duration(POST_ROLL),
                    )
                    started = time.perf_counter()
                    clip = await stub.CreateClip(request)
                    if live:
                        for packet in packets[len(head) :]:
                            await asyncio.sleep(max(0.0, packet.wall_time - time.time()))
                            ring.append(packet, codec)
                        started = time.perf_counter()  # the post-roll is buffered now
                        cpu_started = cpu_seconds()
                    await wait_ready(stub, clip.id)
                    elapsed = time.perf_counter() - started
                cpu = cpu_seconds() - cpu_started
                if n >= len(kinds):  # the first round warms up FFmpeg, gRPC and the database
                    samples[kind].append((elapsed, cpu))
                buffer.buffer.cameras[camera].ring = type(ring)(1, 1)  # free the window
    finally:
        rest.close()
        await gateway.stop(1)
        await clipper.stop(1)
        await buffer.stop(1)
    return samples


def table(
    rows: list[tuple[str, list[tuple[float, float]]]], reference: tuple[float, float] | None
) -> list[str]:
    """Lines of the result table from (wall, CPU) seconds per run: median and p95
    wall time, median CPU time, and the ratios of the medians to ``reference``
    (the ffmpeg CLI's median wall and CPU times)."""
    lines = [
        f"{'what':<44} {'median ms':>9} {'p95 ms':>7} {'x ffmpeg':>8} {'cpu ms':>7} {'x ffmpeg':>8}"
    ]
    for name, samples in rows:
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        wall, p95, cpu = statistics.median(walls), percentile(walls, 0.95), statistics.median(cpus)
        ratio = f"{wall / reference[0]:.2f}" if reference else "-"
        cpu_ratio = f"{cpu / reference[1]:.2f}" if reference else "-"
        lines.append(
            f"{name:<44} {wall * 1000:>9.1f} {p95 * 1000:>7.1f} {ratio:>8} "
            f"{cpu * 1000:>7.1f} {cpu_ratio:>8}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    if not args.cache.is_file():
        build_window(args.cache)
    window = load_window(args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        samples = asyncio.run(measure(args.runs, window, Path(tmp)))
    cli = ffmpeg_cut_timings(timelines_from_responses(window), args.runs)
    rows = [(ROWS[kind], samples[kind]) for kind in ROWS]
    reference = None
    if cli:
        reference = (statistics.median(w for w, _ in cli), statistics.median(c for _, c in cli))
        rows.append(("ffmpeg -ss -t -c copy +faststart (file)", cli))
    print(f"\n60 s window, 1920x1080 H.264 4 Mbps 15 fps, {args.runs} runs each\n")
    print("\n".join(table(rows, reference)))
    if not cli:
        print("(ffmpeg is not installed: no reference)")


if __name__ == "__main__":
    main()
