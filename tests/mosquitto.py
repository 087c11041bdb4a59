"""A Mosquitto broker of a test's own on a free port, so it can be stopped and
started again (the machine's shared broker on 1883 cannot)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import free_port


@dataclass
class Broker:
    port: int
    config: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(mosquitto).exists():
            pytest.fail("the mosquitto broker is not installed (.ci/services installs it)")
        self.processes.append(
            subprocess.Popen([mosquitto, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{self.port}"]).returncode:
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.processes[-1].terminate()
        self.processes[-1].wait(10)


@contextlib.contextmanager
def private_broker(directory: Path) -> Iterator[Broker]:
    """A started broker (anonymous, nothing persisted to disk) for the test."""
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = Broker(port, config)
    broker.start()
    try:
        yield broker
    finally:
        for process in broker.processes:
            if process.poll() is None:
                process.kill()
