"""eventclip services as real processes (``eventclip serve NAME`` or
``eventclip run``) on loopback, for the tests that stop, kill and restart them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import yaml
from conftest import BUILTIN_PLUGINS, free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eventclip.v1 import buffer_pb2, buffer_pb2_grpc, clips_pb2, clips_pb2_grpc

EVENTCLIP = Path(sys.executable).parent / "eventclip"
SERVICES = ("buffer", "clipper", "events", "gateway")


@dataclass
class Suite:
    """Services started from one config file; ``processes`` by service name
    (``"all"`` for an ``eventclip run``), each logging to ``logs[name]``."""

    config: Path
    ports: dict[str, int]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    #: ``--grace`` seconds: how long a stop lets in-flight work finish.
    grace: float = 5.0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def grpc_target(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def start(self, name: str) -> subprocess.Popen:
        """Start ``eventclip serve NAME`` (``"all"``: ``eventclip run``); its
        output is appended to ``<config dir>/<name>.log``."""
        command = ["run"] if name == "all" else ["serve", name]
        self.logs[name] = self.config.parent / f"{name}.log"
        self.processes[name] = subprocess.Popen(
            [str(EVENTCLIP), *command, "--config", str(self.config), "--grace", str(self.grace)],
            stdout=self.logs[name].open("a"),
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        return self.processes[name]

    def stop(self, name: str, sig: int = signal.SIGTERM, within: float = 20) -> int:
        """Send ``sig`` to the process and wait for it; its exit code."""
        process = self.processes[name]
        process.send_signal(sig)
        return process.wait(timeout=within)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def tail(self) -> str:
        return "\n".join(f"--- {n} ---\n{p.read_text()[-3000:]}" for n, p in self.logs.items())


async def wait_serving(suite: Suite, names=("buffer", "clipper", "events"), within=30.0) -> None:
    """Until each gRPC service answers SERVING (and the gateway /healthz, when
    it is among the ports)."""
    deadline = time.monotonic() + within
    for name in names:
        async with grpc.aio.insecure_channel(suite.grpc_target(name)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                for process in suite.processes.values():
                    assert process.poll() is None, f"a service exited\n{suite.tail()}"
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                assert time.monotonic() < deadline, f"{name} not serving\n{suite.tail()}"
                await asyncio.sleep(0.2)
    if "gateway" not in suite.ports:
        return
    async with httpx.AsyncClient(base_url=suite.http) as http:
        while True:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"gateway not healthy\n{suite.tail()}"
            await asyncio.sleep(0.2)


async def wait_buffered(
    suite: Suite, camera_id: str, seconds: float, within: float = 30.0
) -> buffer_pb2.Camera:
    """Until the camera is ONLINE with at least ``seconds`` buffered."""
    async with grpc.aio.insecure_channel(suite.grpc_target("buffer")) as channel:
        stub = buffer_pb2_grpc.BufferServiceStub(channel)
        deadline = time.monotonic() + within
        while True:
            try:
                camera = await stub.GetCamera(buffer_pb2.GetCameraRequest(id=camera_id), timeout=2)
                buffered = camera.buffered_duration.ToTimedelta().total_seconds()
                if camera.state == buffer_pb2.Camera.ONLINE and buffered >= seconds:
                    return camera
            except grpc.aio.AioRpcError:
                camera = None
            assert time.monotonic() < deadline, f"camera not buffering: {camera}\n{suite.tail()}"
            await asyncio.sleep(0.25)


async def wait_clip(
    suite: Suite, clip_id: str, states: tuple[int, ...], within: float = 60.0
) -> clips_pb2.Clip:
    """Poll the clipper until the clip is in one of ``states``."""
    deadline = time.monotonic() + within
    async with grpc.aio.insecure_channel(suite.grpc_target("clipper")) as channel:
        stub = clips_pb2_grpc.ClipServiceStub(channel)
        while True:
            try:
                clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id), timeout=2)
                if clip.state in states:
                    return clip
            except grpc.aio.AioRpcError:
                clip = None
            assert time.monotonic() < deadline, f"clip not there yet: {clip}\n{suite.tail()}"
            await asyncio.sleep(0.2)


def make_key(suite: Suite, role: str, name: str | None = None) -> str:
    """A new API key of ``role`` made with ``eventclip keys create``."""
    command = [str(EVENTCLIP), "keys", "create", "--role", role, "--config", str(suite.config)]
    if name:
        command += ["--name", name]
    done = subprocess.run(command, env=suite.env, capture_output=True, text=True, check=True)
    first, token = done.stdout.splitlines()
    assert first.startswith(f"created the {role} key")
    return token


def write_config(tmp_path: Path, ports: dict[str, int], **overrides: object) -> Path:
    """``<tmp_path>/eventclip.yaml`` for services on ``ports`` (by name): data
    in ``<tmp_path>/data``, one synthetic camera ``cam`` watched by register
    ``till-1``, 2 s pre-roll and 1 s post-roll, the built-in rule; top-level
    ``overrides`` replace or add keys."""
    config = {
        "data_dir": str(tmp_path / "data"),
        "cameras": [{"id": "cam", "source": "synthetic://320x180@15?gop=15"}],
        "registers": [{"id": "till-1", "cameras": ["cam"]}],
        "clips": {"pre_roll_seconds": 2, "post_roll_seconds": 1},
        "plugins": BUILTIN_PLUGINS,
        "services": {name: {"port": port} for name, port in ports.items()},
        **overrides,
    }
    path = tmp_path / "eventclip.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def secured_run(tmp: Path, database_url: str) -> Iterator[tuple[Suite, str]]:
    """``eventclip run`` with API keys required, on ``database_url``, with a
    synthetic camera: (the suite once serving, an admin key). Fails when the
    process log holds a traceback at the end (nothing blew up, even unseen)."""
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    # The default 30 s rolls: what a user of eventclip run gets.
    suite = Suite(write_config(tmp, ports, database_url=database_url, clips={}), ports)
    suite.env["EVENTCLIP_AUTH__ENABLED"] = "true"
    key = make_key(suite, "admin")
    suite.start("all")
    try:
        asyncio.run(wait_serving(suite))
        yield suite, key
    finally:
        suite.stop_all()
    log = suite.logs["all"].read_text()
    assert "Traceback" not in log, log[-5000:]
