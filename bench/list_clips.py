"""REST listing of clips at scale: GET /api/v1/clips over 100k clips, beside the
gRPC ListClips it maps to (the reference, measured in the same run).

The clips table is filled with ``--clips`` READY clips (default 100 000) spread
over ``--cameras`` cameras and 30 days, then the real clipper and the real
gateway run as two ``eventclip serve`` processes on that database, as deployed,
and this process is the client: a keep-alive HTTP client for REST and one gRPC
channel for ListClips, both synchronous so that the client adds no event loop of
its own. Each case is a page of 50, newest first:

- all clips, first page; the next page (its ``pageToken``);
- one camera (``cameraId=``), first page; its next page.

The database is a SQLite file, or with ``--postgres`` a fresh schema on the
PostgreSQL the tests use (EVENTCLIP_TEST_POSTGRES_URL), dropped at the end. ``--explain`` prints the query plans of the listing queries.

    python bench/list_clips.py [--clips 100000] [--requests 300] [--postgres] [--explain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import sqlalchemy
import yaml

from eventclip.clipper.models import READY, ClipRecord
from eventclip.clipper.store import ClipStore, new_clip_id
from eventclip.v1 import clips_pb2, clips_pb2_grpc

# The test suite's PostgreSQL and free-port helper.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import free_port, fresh_postgres_schema

PAGE = 50
TARGET_P99_MS = 20.0
DAYS = 30
EVENTCLIP = Path(sys.executable).parent / "eventclip"


@contextmanager
def database(postgres: bool, data_dir: Path) -> Iterator[str]:
    """A database URL: a SQLite file in ``data_dir``, or a fresh PostgreSQL schema."""
    if not postgres:
        yield f"sqlite:///{data_dir / 'eventclip.db'}"
        return
    with fresh_postgres_schema("bench") as url:
        yield url


def fill(url: str, clips: int, cameras: list[str]) -> float:
    """Insert ``clips`` READY clips, one every 30 days / clips, newest now;
    returns the seconds it took."""
    started = time.perf_counter()
    store = ClipStore.open(url)
    now = datetime.now(UTC)
    step = timedelta(days=DAYS) / clips
    table = ClipRecord.__table__  # type: ignore[attr-defined]
    try:
        batch: list[dict[str, object]] = []
        for n in range(clips):
            created = now - step * (clips - n)
            event = created - timedelta(seconds=40)
            record = ClipRecord(
                id=new_clip_id(created),
                camera_id=cameras[n % len(cameras)],
                event_id=f"pos-{n}",
                alert_id=f"alert-{n}",
                state=READY,
                start_time=event - timedelta(seconds=30),
                end_time=event + timedelta(seconds=30),
                event_time=event,
                media_start_time=event - timedelta(seconds=31),
                media_end_time=event + timedelta(seconds=30),
                duration_seconds=61.0,
                size_bytes=30_500_000,
                sha256="ab" * 32,
                thumbnail_size_bytes=9_000,
                thumbnail_sha256="cd" * 32,
                codec_name="h264",
                width=1920,
                height=1080,
                video_key=f"clips/{n}.mp4",
                thumbnail_key=f"clips/{n}.jpg",
                complete=True,
                attempts=1,
                create_time=created,
                update_time=created + timedelta(seconds=31),
            )
            batch.append(record.model_dump())
            if len(batch) == 5000:
                with store.engine.begin() as conn:
                    conn.execute(table.insert(), batch)
                batch = []
        if batch:
            with store.engine.begin() as conn:
                conn.execute(table.insert(), batch)
        with store.engine.begin() as conn:
            if store.engine.dialect.name == "postgresql":
                conn.execute(sqlalchemy.text("ANALYZE clips"))
            else:
                conn.execute(sqlalchemy.text("ANALYZE"))
    finally:
        store.close()
    return time.perf_counter() - started


def explain(url: str, camera: str) -> None:
    """The plans of the two first-page queries, as ClipStore.list_clips builds them."""
    store = ClipStore.open(url)
    try:
        from sqlmodel import select

        from eventclip.pagination import newest_first

        queries = {
            "all": newest_first(select(ClipRecord), ClipRecord, None).limit(PAGE + 1),
            "cameraId": newest_first(
                select(ClipRecord).where(ClipRecord.camera_id == camera), ClipRecord, None
            ).limit(PAGE + 1),
        }
        prefix = "EXPLAIN " if store.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        with store.engine.connect() as conn:
            for name, query in queries.items():
                sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
                print(f"-- {name}")
                for row in conn.execute(sqlalchemy.text(prefix + sql)):
                    print("  ", " ".join(str(c) for c in row))
    finally:
        store.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def services(config: Path, grpc_port: int, http_port: int) -> Iterator[dict[str, int]]:
    """The clipper and the gateway as two processes, until they answer; yields
    their pids by name."""
    processes = [
        subprocess.Popen(
            [str(EVENTCLIP), "serve", name, "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("clipper", "gateway")
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args} exited: {process.stderr.read()[-2000:]}")
            try:
                got = httpx.get(f"http://127.0.0.1:{http_port}/api/v1/clips?pageSize=1", timeout=5)
                if got.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("clipper/gateway did not answer within 60 s")
            time.sleep(0.2)
        yield {name: p.pid for name, p in zip(("clipper", "gateway"), processes, strict=True)}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class Timing:
    """Wall milliseconds per request, and the CPU milliseconds per request the
    clipper and the gateway spent (independent of what else the machine runs)."""

    wall: list[float]
    cpu: dict[str, float]


def timed(
    call: Callable[[], object], requests: int, pids: dict[str, int], warmup: int = 30
) -> Timing:
    """Timing of ``requests`` calls, after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        call()
    samples = []
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cpu = {
        name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / requests for name, pid in pids.items()
    }
    return Timing(samples, cpu)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    http_port: int, grpc_port: int, camera: str, requests: int, pids: dict[str, int]
) -> list[tuple[str, Timing, Timing]]:
    """Each case over REST and over gRPC; checks both give the same page."""
    rows = []
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{http_port}/api/v1", timeout=10) as http,
        grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
    ):
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        for name, camera_id in [("all clips", ""), (f"cameraId={camera}", camera)]:
            first = stub.ListClips(clips_pb2.ListClipsRequest(page_size=PAGE, camera_id=camera_id))
            for page, token in [("first page", ""), ("next page", first.next_page_token)]:
                request = clips_pb2.ListClipsRequest(
                    page_size=PAGE, camera_id=camera_id, page_token=token
                )
                params = {"pageSize": PAGE, "cameraId": camera_id, "pageToken": token}
                params = {k: v for k, v in params.items() if v}
                expected = [c.id for c in stub.ListClips(request).clips]
                got = [c["id"] for c in http.get("/clips", params=params).json()["clips"]]
                assert len(expected) == PAGE and got == expected, (name, page)

                def rest(params: dict[str, object] = params) -> None:
                    response = http.get("/clips", params=params)
                    response.raise_for_status()
                    response.json()

                def direct(request: clips_pb2.ListClipsRequest = request) -> None:
                    stub.ListClips(request, timeout=10)

                rows.append(
                    (
                        f"{name}, {page}",
                        timed(rest, requests, pids),
                        timed(direct, requests, pids),
                    )
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    cameras = [f"cam{n:02d}" for n in range(args.cameras)]
    with tempfile.TemporaryDirectory() as tmp, database(args.postgres, Path(tmp)) as url:
        filled = fill(url, args.clips, cameras)
        if args.explain:
            explain(url, cameras[7 % len(cameras)])
        grpc_port, http_port = free_port(), free_port()
        config = Path(tmp) / "eventclip.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": tmp,
                    "database_url": url,
                    "cameras": [{"id": c, "source": "synthetic://"} for c in cameras],
                    "registers": [],
                    "services": {
                        "clipper": {"port": grpc_port},
                        "gateway": {"port": http_port},
                        "buffer": {"port": free_port()},
                        "events": {"port": free_port()},
                    },
                }
            )
        )
        with services(config, grpc_port, http_port) as pids:
            rows = measure(http_port, grpc_port, cameras[7 % len(cameras)], args.requests, pids)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"\n{args.clips} READY clips on {backend} ({args.cameras} cameras, filled in "
        f"{filled:.0f} s); page of {PAGE}; {args.requests} requests per row; ms\n"
    )
    print(
        f"{'case':<30} {'REST p50':>8} {'p99':>6} {'gRPC p50':>8} {'p99':>6} "
        f"{'REST/gRPC':>9}   {'CPU ms/request: REST':>20} {'gRPC':>5}"
    )
    for name, rest, direct in rows:
        rest_p50, direct_p50 = statistics.median(rest.wall), statistics.median(direct.wall)
        rest_cpu = f"{rest.cpu['clipper']:.1f}+{rest.cpu['gateway']:.1f}"
        print(
            f"{name:<30} {rest_p50:>8.1f} {percentile(rest.wall, 0.99):>6.1f} "
            f"{direct_p50:>8.1f} {percentile(direct.wall, 0.99):>6.1f} "
            f"{rest_p50 / direct_p50:>9.2f}   {rest_cpu:>20} {direct.cpu['clipper']:>5.1f}"
        )
    print("(CPU: clipper+gateway for REST, clipper for gRPC, per request)")
    worst = max(percentile(rest.wall, 0.99) for _, rest, _ in rows)
    verdict = "met" if worst <= TARGET_P99_MS else "NOT met"
    load = os.getloadavg()[0]
    print(
        f"\ntarget: REST p99 <= {TARGET_P99_MS:.0f} ms: {verdict} (worst {worst:.1f} ms; "
        f"load average {load:.1f} on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
