"""Camera passwords never leave: a camera whose RTSP URL carries a password and
that refuses connections, run as ``eventclip run`` (a real process, its real
log). FFmpeg's error texts name the URL; the password must appear in no API
field (camera status, a clip's failure reason), no log line and no gRPC status."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import BUILTIN_PLUGINS, free_port
from processes import Suite, wait_serving

PASSWORD = "S3cretPw-7f3a"


@pytest.fixture
def suite(tmp_path: Path):
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    refusing = free_port()  # nobody listens: FFmpeg says "Connection refused: '<url>'"
    config = {
        "data_dir": str(tmp_path / "data"),
        "cameras": [
            {"id": "door", "source": f"rtsp://admin:{PASSWORD}@127.0.0.1:{refusing}/stream1"}
        ],
        "registers": [{"id": "till-1", "cameras": ["door"]}],
        "clips": {"max_attempts": 1},
        "plugins": BUILTIN_PLUGINS,
        "services": {name: {"port": port} for name, port in ports.items()},
    }
    path = tmp_path / "eventclip.yaml"
    path.write_text(yaml.safe_dump(config))
    suite = Suite(path, ports)
    suite.env["EVENTCLIP_LOG_FORMAT"] = "json"
    suite.start("all")
    try:
        yield suite
    finally:
        suite.stop_all()


async def test_a_camera_password_appears_nowhere(suite: Suite) -> None:
    await wait_serving(suite)
    async with httpx.AsyncClient(base_url=suite.http, timeout=10) as http:
        deadline = time.monotonic() + 30
        while True:
            [camera] = (await http.get("/api/v1/cameras")).json()["cameras"]
            if "refused" in camera.get("statusMessage", ""):
                break
            assert time.monotonic() < deadline, camera
            await asyncio.sleep(0.2)
        assert "admin:***@" in camera["statusMessage"]  # still says which URL failed
        created = await http.post(
            "/api/v1/clips",
            json={
                "cameraId": "door",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5)),
                "preRollSeconds": 2,
                "postRollSeconds": 1,
            },
        )
        assert created.status_code == 202, created.text
        clip = created.json()
        while clip["state"] not in ("FAILED", "READY"):
            assert time.monotonic() < deadline + 30, clip
            await asyncio.sleep(0.2)
            clip = (await http.get(f"/api/v1/clips/{clip['id']}")).json()
        await asyncio.sleep(1.5)  # a few more reconnects, each logged
        answers = [
            (await http.get(path)).text
            for path in ("/api/v1/cameras", f"/api/v1/clips/{clip['id']}", "/api/v1/clips")
        ]
    assert clip["state"] == "FAILED"
    assert "refused" in clip["failureReason"] and "***" in clip["failureReason"]
    log = suite.logs["all"].read_text()
    assert log.count("offline") >= 2  # the reconnects were logged...
    for text in (*answers, log):
        assert PASSWORD not in text  # ...and nothing anywhere holds the password
