"""Event ingest throughput: SubmitEvent for events that raise no alert (SALEs),
against the real events service and, in the same run, a bare ``grpc.aio``
server of the same EventService that only echoes the event back (the
reference: what Python gRPC itself serves here). Then StreamEvents.

Each server runs in a process of its own (``eventclip serve events`` on a
SQLite file or, with ``--postgres``, a fresh schema on the tests' PostgreSQL;
the echo server in a child process); the load comes from ``--clients``
processes with ``--in-flight`` calls each, for ``--seconds``. Every event has
a new event_id, so each is claimed, scored by the built-in rules and
completed. StreamEvents: one client process streaming ``--stream-events`` SALEs.

    python bench/events_throughput.py [--seconds 10] [--clients 2] [--in-flight 32]
        [--stream-events 5000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import grpc
import sqlalchemy
import yaml
from google.type.money_pb2 import Money

from eventclip.timeutil import to_timestamp
from eventclip.v1 import events_pb2, events_pb2_grpc

POSTGRES_URL = os.environ.get(
    "EVENTCLIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def sale(prefix: str, n: int) -> events_pb2.PosEvent:
    return events_pb2.PosEvent(
        event_id=f"{prefix}-{n}",
        type=events_pb2.PosEvent.SALE,
        store_id="s1",
        register_id="demo",
        operator_id="op-7",
        transaction_id=f"tx-{n}",
        amount=Money(currency_code="USD", units=12, nanos=500_000_000),
        occurred_at=to_timestamp(datetime.now(UTC)),
    )


# -- the reference: a bare echo server of the same service -----------------------


class EchoEvents(events_pb2_grpc.EventServiceServicer):
    async def SubmitEvent(self, request, context):  # type: ignore[no-untyped-def]
        return events_pb2.SubmitEventResponse(event=request.event)


def serve_echo(port: int, ready: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        events_pb2_grpc.add_EventServiceServicer_to_server(EchoEvents(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await server.wait_for_termination()

    asyncio.run(main())


# -- the load ------------------------------------------------------------------


def unary_load(target: str, seconds: float, in_flight: int, results: multiprocessing.Queue) -> None:
    async def main() -> tuple[int, list[float]]:
        prefix = uuid.uuid4().hex[:8]
        latencies: list[float] = []
        counter = iter(range(10**9))
        async with grpc.aio.insecure_channel(target) as channel:
            stub = events_pb2_grpc.EventServiceStub(channel)
            deadline = time.monotonic() + seconds

            async def worker() -> None:
                while time.monotonic() < deadline:
                    request = events_pb2.SubmitEventRequest(event=sale(prefix, next(counter)))
                    started = time.perf_counter()
                    await stub.SubmitEvent(request, timeout=30)
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(worker() for _ in range(in_flight)))
        return len(latencies), latencies

    results.put(asyncio.run(main()))


def stream_load(target: str, count: int, results: multiprocessing.Queue) -> None:
    async def main() -> int:
        prefix = uuid.uuid4().hex[:8]
        async with grpc.aio.insecure_channel(target) as channel:
            stub = events_pb2_grpc.EventServiceStub(channel)
            requests = (events_pb2.StreamEventsRequest(event=sale(prefix, n)) for n in range(count))
            answered = 0
            async for answer in stub.StreamEvents(requests, timeout=600):
                assert answer.WhichOneof("result") == "response", answer
                answered += 1
        return answered

    started = time.monotonic()
    answered = asyncio.run(main())
    results.put((answered, time.monotonic() - started))


def run_unary(target: str, seconds: float, clients: int, in_flight: int) -> tuple[float, float]:
    """(events per second, p99 latency in ms) over all client processes."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=unary_load, args=(target, seconds, in_flight, results))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(lat for _, lats in outcomes for lat in lats)
    total = sum(n for n, _ in outcomes)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")
    return total / seconds, p99 * 1000


# -- the servers ----------------------------------------------------------------


@contextmanager
def database(postgres: bool, tmp: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{tmp / 'events.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def events_server(database_url: str, tmp: Path) -> Iterator[str]:
    port = free_port()
    config = tmp / "eventclip.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp),
                "database_url": database_url,
                "auth": {"enabled": False},
                "services": {"events": {"port": port}},
                "log_level": "WARNING",
            }
        )
    )
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "eventclip"),
            "serve",
            "events",
            "--config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
    )
    target = f"127.0.0.1:{port}"
    try:
        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=60)
        channel.close()
        yield target
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def echo_server() -> Iterator[str]:
    port = free_port()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=serve_echo, args=(port, ready), daemon=True)
    process.start()
    ready.wait(30)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--stream-events", type=int, default=5000)
    args = parser.parse_args()
    multiprocessing.set_start_method("spawn")
    rows = []
    with echo_server() as target:
        rate, p99 = run_unary(target, args.seconds, args.clients, args.in_flight)
        rows.append(("bare grpc.aio echo: SubmitEvent", rate, p99))
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with database(args.postgres, tmp) as url, events_server(url, tmp) as target:
            rate, p99 = run_unary(target, args.seconds, args.clients, args.in_flight)
            rows.append(("eventclip: SubmitEvent (SALE, no alert)", rate, p99))
            results: multiprocessing.Queue = multiprocessing.Queue()
            proc = multiprocessing.Process(
                target=stream_load, args=(target, args.stream_events, results)
            )
            proc.start()
            answered, took = results.get()
            proc.join()
            rows.append(("eventclip: StreamEvents (one stream)", answered / took, float("nan")))
    db = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"\n{args.clients} client processes x {args.in_flight} in flight, "
        f"{args.seconds:g} s each, {db}\n"
    )
    reference = rows[0][1]
    print(f"{'what':<44} {'events/s':>9} {'p99 ms':>7} {'x bare':>7}")
    for name, rate, p99 in rows:
        print(f"{name:<44} {rate:>9.0f} {p99:>7.1f} {rate / reference:>7.2f}")


if __name__ == "__main__":
    main()
