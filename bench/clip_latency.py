"""Clip latency: from "post-roll buffered" to "clip READY with thumbnail", through gRPC.

The window is the design target (60 s of 1920x1080 H.264, 4 Mbps, 15 fps, GOP 30;
made once by bench/remux.py and cached). A real BufferService (ingest off, packets
injected into its ring) and a real ClipService run on loopback in this process.

Each run uses a fresh camera ring: the first 59.5 s of the window are put in the
ring with wall times in the past, the clip is requested (event at 30 s, pre-roll
30 s, post-roll 29.9 s), and the last half second of packets is appended in real
time, as a camera would deliver it. The clock starts when the packet that ends the
post-roll enters the ring and stops when GetClip says READY (polled every 10 ms,
so a figure may be up to 10 ms late; a tighter poll competes with the cut for the GIL).

A second row times a clip requested after its whole window is buffered (the job
pulls all ~30 MB over gRPC, then cuts). The last row is the ffmpeg CLI cutting
the same window from an MP4 file (`-ss 0 -t 60 -c copy -movflags +faststart`).

    python bench/clip_latency.py [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from remux import DEFAULT_CACHE, SECONDS, build_window, ffmpeg_cut_samples, load_window

from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.buffer.service import start as start_buffer
from eventclip.clipper.remux import segments_from_responses
from eventclip.clipper.service import start as start_clipper
from eventclip.config import load_settings
from eventclip.rpc import open_channel
from eventclip.timeutil import to_duration, to_timestamp
from eventclip.v1 import buffer_pb2, clips_pb2, clips_pb2_grpc

TAIL_SECONDS = 0.5
POST_ROLL = SECONDS / 2 - 0.1  # ends on the last packet of the window


def as_ring_input(
    codec: buffer_pb2.CodecParameters, packets: list[buffer_pb2.Packet], first_wall: float
) -> tuple[CodecParams, list[BufferedPacket]]:
    """The cached window as ring entries whose wall clock starts at ``first_wall``."""
    time_base = Fraction(codec.time_base_num, codec.time_base_den)
    params = CodecParams(
        codec_name=codec.codec_name,
        extradata=codec.extradata,
        width=codec.width,
        height=codec.height,
        time_base=time_base,
        frame_rate=Fraction(codec.frame_rate_num, codec.frame_rate_den),
        pix_fmt=codec.pix_fmt,
        segment_id=1,
    )
    base = packets[0].pts
    ring_packets = [
        BufferedPacket(
            data=p.data,
            pts=p.pts,
            dts=p.dts,
            duration=p.duration,
            keyframe=p.keyframe,
            wall_time=first_wall + float((p.pts - base) * time_base),
            segment_id=1,
        )
        for p in packets
    ]
    return params, ring_packets


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
        await asyncio.sleep(0.010)


async def measure(runs: int, window: list[buffer_pb2.ReadWindowResponse], data_dir: Path):
    segment = segments_from_responses(window)[0]
    cameras = [
        {"id": f"bench-{i}", "source": "synthetic://", "buffer_seconds": 90}
        for i in range(2 * runs + 2)
    ]
    settings = load_settings(
        data_dir=data_dir,
        cameras=cameras,
        registers=[],
        services={"buffer": {"port": 0}, "clipper": {"port": 0}},
    )
    buffer = await start_buffer(settings, ingest=False)
    settings.services.buffer.port = buffer.port
    clipper = await start_clipper(settings)
    live, buffered = [], []
    try:
        async with open_channel(f"127.0.0.1:{clipper.port}") as channel:
            stub = clips_pb2_grpc.ClipServiceStub(channel)
            for n in range(2 * runs + 2):
                camera = f"bench-{n}"
                ring = buffer.buffer.camera(camera).ring
                follow_live = n % 2 == 0
                first_wall = time.time() - (SECONDS - TAIL_SECONDS if follow_live else SECONDS + 2)
                codec, packets = as_ring_input(segment.codec, segment.packets, first_wall)
                now = time.time()
                head = [p for p in packets if p.wall_time <= now] if follow_live else packets
                for packet in head:
                    ring.append(packet, codec)
                request = clips_pb2.CreateClipRequest(
                    camera_id=camera,
                    event_time=to_timestamp(first_wall + SECONDS / 2),
                    pre_roll=to_duration(SECONDS / 2),
                    post_roll=to_duration(POST_ROLL),
                )
                started = time.perf_counter()
                clip = await stub.CreateClip(request)
                if follow_live:
                    for packet in packets[len(head) :]:
                        await asyncio.sleep(max(0.0, packet.wall_time - time.time()))
                        ring.append(packet, codec)
                    started = time.perf_counter()  # the post-roll is buffered now
                await wait_ready(stub, clip.id)
                elapsed = time.perf_counter() - started
                if n >= 2:  # the first pair warms up FFmpeg, gRPC and the database
                    (live if follow_live else buffered).append(elapsed)
                buffer.buffer.cameras[camera].ring = type(ring)(1, 1)  # free the window
    finally:
        await clipper.stop(1)
        await buffer.stop(1)
    return live, buffered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    if not args.cache.is_file():
        build_window(args.cache)
    window = load_window(args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        live, buffered = asyncio.run(measure(args.runs, window, Path(tmp)))
    rows = [
        ("post-roll buffered -> READY + thumbnail (gRPC)", live),
        ("window fully buffered: CreateClip -> READY (gRPC)", buffered),
    ]
    cli = ffmpeg_cut_samples(segments_from_responses(window), args.runs)
    rows.append(("ffmpeg -ss -t -c copy +faststart from a file", cli or []))
    print(f"\n60 s window, 1920x1080 H.264 4 Mbps 15 fps, {args.runs} runs each\n")
    print(f"{'what':<52} {'median ms':>10} {'p95 ms':>8}")
    for name, samples in rows:
        if not samples:
            print(f"{name:<52} {'(ffmpeg not installed)':>19}")
            continue
        median, p95 = statistics.median(samples) * 1000, percentile(samples, 0.95) * 1000
        print(f"{name:<52} {median:>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
