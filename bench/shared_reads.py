"""Ten overlapping clip windows of one camera: each read alone vs one shared read.

A real BufferService (ingest off) holds the design window (60 s of 1920x1080
H.264, 4 Mbps, 15 fps; made once by bench/remux.py and cached) in a camera's
ring. Ten clip windows are read as the clip job reads them (each reply fed to
LiveRemux in a worker thread as it arrives, then the MP4 finished), through one
WindowReader each ("alone", what jobs did before) or through one
SharedWindowReader ("shared"). A client interceptor counts the ReadWindow
streams and the bytes they carried.

Scenarios:

* past: ten 40 s windows starting 2 s apart, all in the ring, asked for at
  once (a burst of late POS events, or manual clips). The time is from the
  requests to the ten MP4s finished.
* one: a single 60 s window in the ring, the cost of going through a shared
  read when there is nothing to share (median of --runs, each read anew).
* alerts: "ten alerts in a minute" with 30 s pre- and post-roll, time
  compressed by --speedup (default 10: an alert every 0.6 s, rolls of 3 s); the
  camera delivers packets in real time and each job starts at its alert. The
  time is from the last window's end to its MP4 finished.

Each (scenario, reader) runs in its own process, so the peak memory is its
own: resident set size sampled every 5 ms while cutting, minus before. The
MP4s of both readers are compared (SHA-256).

    python bench/shared_reads.py [--speedup 10] [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from remux import DEFAULT_CACHE, build_window, load_window

from eventclip.buffer.service import start as start_buffer
from eventclip.clipper.live import LiveRemux
from eventclip.clipper.shared_reads import LINGER_SECONDS, SharedWindowReader
from eventclip.clipper.window_reader import WindowReader
from eventclip.config import load_settings
from eventclip.media.timelines import timelines_from_responses
from eventclip.rpc import CHANNEL_OPTIONS
from eventclip.testing import ring_input
from eventclip.timeutil import utcnow

CLIPS = 10
PAGE = os.sysconf("SC_PAGE_SIZE")


class StreamCounter(grpc.aio.UnaryStreamClientInterceptor):
    """Counts server-streaming calls and the serialised bytes of their replies."""

    def __init__(self) -> None:
        self.streams = 0
        self.bytes = 0

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        self.streams += 1
        call = await continuation(client_call_details, request)

        async def counted():
            async for reply in call:
                self.bytes += reply.ByteSize()
                yield reply

        return counted()


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


async def sample_peak(peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], resident_bytes())
        await asyncio.sleep(0.005)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def cut(reader, path: Path, start: float, end: float) -> tuple[str, float]:
    """(SHA-256 of the MP4, time.time() when it was finished)."""
    remux = LiveRemux(path, start_time=at(start), event_time=at(start))
    async for reply in reader.read("bench", at(start), at(end)):
        await asyncio.to_thread(remux.feed, reply)
    await asyncio.to_thread(remux.finish)
    done = time.time()
    digest = await asyncio.to_thread(lambda: hashlib.sha256(path.read_bytes()).hexdigest())
    return digest, done


async def child(scenario: str, mode: str, speedup: float, runs: int, data_dir: Path) -> dict:
    timeline = timelines_from_responses(load_window(DEFAULT_CACHE))[0]
    settings = load_settings(
        data_dir=data_dir,
        cameras=[{"id": "bench", "source": "synthetic://", "buffer_seconds": 300}],
        registers=[],
        services={"buffer": {"port": 0}},
    )
    buffer = await start_buffer(settings, ingest=False)
    counter = StreamCounter()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{buffer.port}", options=CHANNEL_OPTIONS, interceptors=[counter]
    )
    alone = WindowReader(channel, utcnow)

    def new_reader() -> WindowReader | SharedWindowReader:
        if mode == "alone":
            return alone
        # "one" reads the same window again each run: without a linger, so
        # that each run reads anew rather than from what the last one left.
        return SharedWindowReader(
            alone,
            max_window_seconds=settings.clips.max_seconds,
            linger_seconds=0 if scenario == "one" else LINGER_SECONDS,
        )

    reader = new_reader()
    ring = buffer.buffer.camera("bench").ring
    roll = 30 / speedup
    interval = 60 / CLIPS / speedup
    now = time.time()
    # 3.7 ms off the frame grid: no window edge ties with a packet's time
    # (real cameras stamp packets at arbitrary instants; a tie within a float's
    # resolution may fall either way, see eventclip.clipper.shared_reads).
    first_wall = (now - roll - 1 if scenario == "alerts" else now - 62) + 0.0037
    codec, packets = ring_input(timeline, first_wall)
    del timeline
    live = [p for p in packets if p.wall_time > now]
    for packet in packets[: len(packets) - len(live)]:
        ring.append(packet, codec)
    del packets
    gc.collect()

    peak = [resident_bytes()]
    baseline = peak[0]
    sampler = asyncio.create_task(sample_peak(peak))
    paths = [data_dir / f"clip-{i}.mp4" for i in range(CLIPS)]
    try:
        if scenario == "one":
            samples = []
            for n in range(runs + 1):
                started = time.time()
                digest, done = await cut(
                    new_reader(), paths[0], first_wall + 0.2, first_wall + 59.5
                )
                if n:  # the first run warms up FFmpeg and gRPC
                    samples.append(done - started)
                await asyncio.to_thread(paths[0].unlink)
            results = [(digest, done)]
            elapsed = statistics.median(samples)
        elif scenario == "past":
            windows = [(first_wall + 2 * i + 0.5, first_wall + 2 * i + 40.5) for i in range(CLIPS)]
            started = time.time()
            results = await asyncio.gather(
                *(cut(reader, p, s, e) for p, (s, e) in zip(paths, windows, strict=True))
            )
            elapsed = max(done for _, done in results) - started
        else:

            async def feed() -> None:
                for packet in live:
                    await asyncio.sleep(max(0.0, packet.wall_time - time.time()))
                    ring.append(packet, codec)

            feeder = asyncio.create_task(feed())
            jobs = []
            for i in range(CLIPS):
                alert = now + i * interval
                await asyncio.sleep(max(0.0, alert - time.time()))
                jobs.append(asyncio.create_task(cut(reader, paths[i], alert - roll, alert + roll)))
            results = await asyncio.gather(*jobs)
            feeder.cancel()
            last_end = now + (CLIPS - 1) * interval + roll
            elapsed = results[-1][1] - last_end
    finally:
        sampler.cancel()
        await channel.close()
        await buffer.stop(0)
    return {
        "streams": counter.streams,
        "megabytes": counter.bytes / 1e6,
        "ms": elapsed * 1000,
        "peak_mb": (peak[0] - baseline) / 1e6,
        "digests": [digest for digest, _ in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(child(*args.child, args.speedup, args.runs, Path(tmp)))
        print(json.dumps(result))
        return
    if not DEFAULT_CACHE.is_file():
        build_window(DEFAULT_CACHE)
    rows = []
    for scenario in ("past", "one", "alerts"):
        digests = {}
        for mode in ("alone", "shared"):
            out = subprocess.run(
                [
                    *(sys.executable, __file__, "--speedup", str(args.speedup)),
                    *("--runs", str(args.runs), "--child", scenario, mode),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            digests[mode] = result.pop("digests")
            rows.append((scenario, mode, result))
        same = "yes" if digests["alone"] == digests["shared"] else "NO"
        rows.append((scenario, "same MP4s", {"same": same}))
    print(
        f"\n{CLIPS} overlapping windows of one camera, 1920x1080 H.264 4 Mbps 15 fps "
        f"(alerts: time / {args.speedup:g})\n"
    )
    print(f"{'scenario':<8} {'reader':<10} {'streams':>8} {'MB read':>8} {'ms':>8} {'peak MB':>8}")
    for scenario, mode, r in rows:
        if "same" in r:
            print(f"{scenario:<8} {mode:<10} {r['same']:>8}")
            continue
        print(
            f"{scenario:<8} {mode:<10} {r['streams']:>8} {r['megabytes']:>8.1f} "
            f"{r['ms']:>8.0f} {r['peak_mb']:>8.1f}"
        )


if __name__ == "__main__":
    main()
