"""Clipper media benchmark: stream-copy remux and thumbnail of one window.

The window is the design target: 60 s of 1920x1080 H.264 at 4 Mbps, 15 fps,
GOP 30 (900 packets, ~30 MB), in the buffer's wire format (ReadWindowResponse
messages). Encoding 900 1080p frames takes a minute or two on 2 cores, so the
window is made once and cached (``--cache``, default
``~/.cache/eventclip/window-1080p-60s.pb``).

Prints a table (median and p90 of ``--runs`` runs) for: remux to MP4 (file in a
temp dir, +faststart), the same plus SHA-256, storage commit with fsync, the
thumbnail, and ``ffmpeg -c copy`` from an MP4 of the same window for reference.

    python bench/remux.py [--runs 20] [--cache PATH]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec
from eventclip.clipper.storage import LocalStorage, file_digest
from eventclip.clipper.thumbnail import make_thumbnail
from eventclip.media.mp4 import remux_to_mp4
from eventclip.media.timelines import timelines_from_responses
from eventclip.timeutil import to_timestamp
from eventclip.v1 import buffer_pb2

SPEC = SyntheticSpec(width=1920, height=1080, fps=15, gop_frames=30, bitrate=4_000_000)
SECONDS = 60
DEFAULT_CACHE = Path.home() / ".cache" / "eventclip" / "window-1080p-60s.pb"


def build_window(path: Path) -> None:
    """Encode the window and store it as length-prefixed ReadWindowResponses."""
    encoder = SyntheticEncoder(SPEC)
    t0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    codec = buffer_pb2.CodecParameters(
        codec_name="h264",
        extradata=encoder.extradata,
        width=SPEC.width,
        height=SPEC.height,
        time_base_num=1,
        time_base_den=SPEC.fps,
        frame_rate_num=SPEC.fps,
        frame_rate_den=1,
        timeline_id=1,
        pix_fmt="yuv420p",
    )
    messages = [buffer_pb2.ReadWindowResponse(codec=codec)]
    batch = buffer_pb2.PacketBatch()
    started = time.perf_counter()
    for packet in encoder.packets(SPEC.fps * SECONDS):
        data = bytes(packet)
        if batch.ByteSize() + len(data) > 1024 * 1024 and batch.packets:
            messages.append(buffer_pb2.ReadWindowResponse(packets=batch))
            batch = buffer_pb2.PacketBatch()
        batch.packets.append(
            buffer_pb2.Packet(
                data=data,
                pts=packet.pts,
                dts=packet.dts,
                duration=packet.duration or 1,
                keyframe=packet.is_keyframe,
                wall_time=to_timestamp(t0 + timedelta(seconds=packet.pts / SPEC.fps)),
            )
        )
    messages.append(buffer_pb2.ReadWindowResponse(packets=batch))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for message in messages:
            blob = message.SerializeToString()
            f.write(struct.pack(">I", len(blob)) + blob)
    print(f"encoded the window in {time.perf_counter() - started:.0f} s -> {path}")


def load_window(path: Path) -> list[buffer_pb2.ReadWindowResponse]:
    data = path.read_bytes()
    messages, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        messages.append(buffer_pb2.ReadWindowResponse.FromString(data[i + 4 : i + 4 + n]))
        i += 4 + n
    return messages


def ffmpeg_cut_command(ffmpeg: str, source: Path, out: Path) -> list[str]:
    """The ffmpeg CLI cutting the window from a file by stream copy, as a user would."""
    cmd = [ffmpeg, "-v", "error", "-y", "-ss", "0", "-t", str(SECONDS), "-i", str(source)]
    return [*cmd, "-c", "copy", "-movflags", "+faststart", str(out)]


def ffmpeg_cut_samples(timelines: list, runs: int) -> list[float]:
    """Seconds each of ``runs`` runs of the ffmpeg CLI takes to cut the window from
    an MP4 of it (page cache warmed first); [] when ffmpeg is not installed."""
    return [wall for wall, _ in ffmpeg_cut_timings(timelines, runs)]


def ffmpeg_cut_timings(timelines: list, runs: int) -> list[tuple[float, float]]:
    """(wall seconds, CPU seconds: user + system of the ffmpeg process) of each of
    ``runs`` runs of the ffmpeg CLI cutting the window from an MP4 of it (page
    cache warmed first); [] when ffmpeg is not installed.

    Each run writes a new file and keeps it, as clip jobs do: a deleted output
    would hand the next run page-cache memory already in use, where a clip
    (and a run that keeps its file) needs fresh memory, which a virtual machine
    whose RAM the host backs on first touch makes costly (~4 ms per MB here)."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.mp4"
        remux_to_mp4(timelines, source)
        subprocess.run(ffmpeg_cut_command(ffmpeg, source, Path(tmp) / "warm-up.mp4"), check=True)
        timings = []
        for n in range(runs):
            cmd = ffmpeg_cut_command(ffmpeg, source, Path(tmp) / f"cut-{n}.mp4")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            timings.append((wall, cpu))
        return timings


def median_p90(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def timed(fn: Callable[[], Path | None], runs: int) -> tuple[float, float]:
    """(median, p90) wall time in ms of ``fn``. A path ``fn`` returns is deleted
    after each run, outside the timing: every run writes a new file, as a clip
    job does (ext4 flushes data when a rename replaces an existing file, which
    would add ~20 ms that production never pays)."""
    samples = []
    for n in range(runs + 1):
        t = time.perf_counter()
        made = fn()
        if n:  # the first run warms up the page cache and FFmpeg
            samples.append((time.perf_counter() - t) * 1000)
        if made is not None:
            made.unlink(missing_ok=True)
    return median_p90(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    if not args.cache.is_file():
        build_window(args.cache)
    timelines = timelines_from_responses(load_window(args.cache))
    packets = timelines[0].packets
    start = datetime.fromtimestamp(packets[0].wall_time.seconds, UTC)
    event = start + timedelta(seconds=SECONDS / 2)
    size_mb = sum(len(p.data) for p in packets) / 1e6
    print(f"window: {len(packets)} packets, {size_mb:.1f} MB, {SPEC.width}x{SPEC.height}")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        storage = LocalStorage(Path(tmp) / "store")

        def remux() -> Path:
            remux_to_mp4(timelines, out, start_time=start, event_time=event)
            return out

        def remux_sha() -> Path:
            remux()
            file_digest(out)
            return out

        def remux_commit() -> Path:
            staged = storage.staging_path("cam/clip.mp4")
            remux_to_mp4(timelines, staged, start_time=start, event_time=event)
            storage.commit("cam/clip.mp4", staged)
            return storage.path("cam/clip.mp4")

        def thumbnail() -> None:
            make_thumbnail(timelines, event)

        rows = [
            ("remux -> MP4 (+faststart, atomic rename)", timed(remux, args.runs)),
            ("remux + SHA-256", timed(remux_sha, args.runs)),
            ("remux + storage commit (SHA-256, fsync)", timed(remux_commit, args.runs)),
            ("thumbnail 320x240 JPEG (1 keyframe)", timed(thumbnail, args.runs)),
        ]
        cli = [s * 1000 for s in ffmpeg_cut_samples(timelines, 5)]
        if cli:
            rows.append(("ffmpeg CLI -ss -t -c copy (reference)", median_p90(cli)))
    print(f"\n{'step':<45} {'median ms':>10} {'p90 ms':>8}")
    for name, (median, p90) in rows:
        print(f"{name:<45} {median:>10.1f} {p90:>8.1f}")


if __name__ == "__main__":
    main()
