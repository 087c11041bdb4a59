"""A user's mistake gets one line and an exit code from the CLI, no traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import yaml
from conftest import free_port
from processes import EVENTCLIP


def test_a_busy_port_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("buffer", "clipper", "events")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports["gateway"] = taken.getsockname()[1]
        config = tmp_path / "eventclip.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": str(tmp_path / "data"),
                    "services": {name: {"port": port} for name, port in ports.items()},
                }
            )
        )
        done = subprocess.run(
            [str(EVENTCLIP), "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("eventclip:")]
    assert lines == [
        f"eventclip: gateway cannot listen on 127.0.0.1:{ports['gateway']}: Address already in use"
    ]
