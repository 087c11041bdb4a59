"""The ``eventclip`` client commands as a user runs them: a real subprocess with a
config file, against the real buffer (synthetic camera), clipper and events
services on loopback. Downloads leave no file when refused, a closed pipe ends
quietly, incomplete clips say so, the audit trail and evidence packages are
checked from the command line."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy
import yaml
from backends import refund, running_backends
from conftest import BUILTIN_PLUGINS, free_port
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventclip.clipper.signing import public_pem
from eventclip.config import load_settings
from eventclip.rpc import RunningService
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVENTCLIP = Path(sys.executable).parent / "eventclip"


@dataclass
class Site:
    config: Path
    services: dict[str, RunningService]
    clips: clips_pb2_grpc.ClipServiceStub
    alert_id: str
    clip: clips_pb2.Clip

    async def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        command = [str(EVENTCLIP), *args, "--config", str(self.config)]
        return await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, cwd=cwd, timeout=120
        )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    root = tmp_path_factory.mktemp("cli")
    config = {
        "data_dir": str(root / "data"),
        "cameras": [{"id": "cam", "source": "synthetic://320x180@15?gop=15"}],
        "registers": [{"id": "till-1", "cameras": ["cam"]}],
        "clips": {"pre_roll_seconds": 1, "post_roll_seconds": 1},
        "plugins": BUILTIN_PLUGINS,
        "services": {name: {"port": free_port()} for name in ("buffer", "events", "clipper")},
    }
    config_path = root / "eventclip.yaml"
    config_path.write_text(yaml.safe_dump(config))
    async with running_backends(load_settings(config_path)) as backends:
        await backends.wait_buffered(["cam"], 2)
        request = events_pb2.SubmitEventRequest(event=refund("till-1"))
        reply = await backends.events.SubmitEvent(request)
        clip = await backends.finished(reply.clip_ids[0])
        assert clip.state == clips_pb2.Clip.READY, clip.failure_reason
        yield Site(config_path, backends.services, backends.clips, reply.alert.id, clip)


async def test_download_of_a_missing_or_unfinished_clip_leaves_no_file(
    site: Site, tmp_path: Path
) -> None:
    missing = await site.run("clips", "download", "no-such-clip", cwd=tmp_path)
    assert missing.returncode == 1
    assert "NOT_FOUND" in missing.stderr and "Traceback" not in missing.stderr
    future = await site.clips.CreateClip(
        clips_pb2.CreateClipRequest(
            camera_id="cam", event_time=to_timestamp(utcnow() + timedelta(hours=1))
        )
    )
    pending = await site.run("clips", "download", future.id, "-o", "out.mp4", cwd=tmp_path)
    assert pending.returncode == 1
    assert "FAILED_PRECONDITION" in pending.stderr and "PENDING" in pending.stderr
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 - no 0-byte file, no .part

    cancelled = await site.run("clips", "cancel", future.id)
    assert cancelled.returncode == 0 and '"state": "CANCELLED"' in cancelled.stdout


async def test_download_writes_the_recorded_bytes(site: Site, tmp_path: Path) -> None:
    result = await site.run("clips", "download", site.clip.id, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    video = tmp_path / f"{site.clip.id}.mp4"
    assert hashlib.sha256(video.read_bytes()).hexdigest() == site.clip.sha256
    sidecar = await site.run("clips", "download", site.clip.id, "--metadata", cwd=tmp_path)
    assert sidecar.returncode == 0, sidecar.stderr
    data = (tmp_path / f"{site.clip.id}.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == site.clip.metadata_sha256


async def test_a_closed_pipe_ends_quietly(site: Site) -> None:
    # `head -n 0` exits before eventclip writes, so the write meets a closed pipe.
    command = f"'{EVENTCLIP}' clips get {site.clip.id} --config '{site.config}' | head -n 0"
    result = await asyncio.to_thread(
        subprocess.run, ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True
    )
    assert result.stderr == ""
    assert result.returncode == 1  # EPIPE, as Python's own recipe exits


async def test_list_shows_coverage_and_hold_in_human_units(site: Site) -> None:
    store = site.services["clipper"].clipper.store  # type: ignore[attr-defined]
    start = site.clip.media_start_time.ToDatetime().timestamp()
    await asyncio.to_thread(
        store.update, site.clip.id, complete=False, gaps=[{"start": start, "end": start + 12.4}]
    )
    await site.run("clips", "hold", site.clip.id, "--reason", "case 17")
    listed = await site.run("clips", "list", "--alert", site.alert_id)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert "COVERAGE" in header and "HOLD" in header
    assert site.clip.id in row and "READY" in row and " yes " in row
    assert "INCOMPLETE: 12.4 s missing" in row
    assert " kB " in row or " MB " in row
    await asyncio.to_thread(store.update, site.clip.id, complete=True, gaps=[])
    listed = await site.run("clips", "list", "--alert", site.alert_id)
    assert " complete " in listed.stdout.splitlines()[1]


async def test_audit_shows_the_trail_and_a_broken_chain(site: Site) -> None:
    result = await site.run("clips", "audit", site.clip.id)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["SEQ", "TIME", "(UTC)", "ACTION"]
    assert any(" created " in line for line in lines)
    assert lines[-1].startswith("chain: intact")

    store = site.services["clipper"].clipper.store  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        original = conn.execute(
            sqlalchemy.text("SELECT actor FROM clip_audit WHERE clip_id = :id AND sequence = 1"),
            {"id": site.clip.id},
        ).scalar_one()
        conn.execute(
            sqlalchemy.text(
                "UPDATE clip_audit SET actor = 'x' WHERE clip_id = :id AND sequence = 1"
            ),
            {"id": site.clip.id},
        )
    try:
        broken = await site.run("clips", "audit", site.clip.id)
        assert broken.returncode == 1
        assert broken.stdout.splitlines()[-1].startswith("chain: BROKEN: entry 1 (created)")
    finally:
        with store.engine.begin() as conn:
            conn.execute(
                sqlalchemy.text(
                    "UPDATE clip_audit SET actor = :actor WHERE clip_id = :id AND sequence = 1"
                ),
                {"actor": original, "id": site.clip.id},
            )


async def test_evidence_export_and_verify(site: Site, tmp_path: Path) -> None:
    package = tmp_path / "package.zip"
    exported = await site.run("evidence", "export", site.alert_id, "-o", str(package))
    assert exported.returncode == 0, exported.stderr

    fetched = await site.run("evidence", "verify", str(package))
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert fetched.stdout.splitlines()[-1] == "OK"
    assert "fetched from the clipper at 127.0.0.1:" in fetched.stdout

    key = await site.run("evidence", "public-key")
    (tmp_path / "key.pem").write_text(key.stdout)
    offline = await site.run(
        "evidence", "verify", str(package), "--public-key", str(tmp_path / "key.pem")
    )
    assert offline.returncode == 0 and f"from {tmp_path / 'key.pem'}" in offline.stdout

    (tmp_path / "other.pem").write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    wrong = await site.run(
        "evidence", "verify", str(package), "--public-key", str(tmp_path / "other.pem")
    )
    assert wrong.returncode == 1 and wrong.stdout.startswith("FAILED: manifest.sig")

    member = f"clips/{site.clip.id}/video.mp4"
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(package) as old, zipfile.ZipFile(changed, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == member:
                data = data[:-1] + bytes([data[-1] ^ 1])
            new.writestr(info, data)
    caught = await site.run(
        "evidence", "verify", str(changed), "--public-key", str(tmp_path / "key.pem")
    )
    assert caught.returncode == 1
    assert caught.stdout.startswith(f"FAILED: {member}: SHA-256")
    assert "Traceback" not in caught.stderr

    unknown = await site.run("evidence", "export", "no-such-alert", "-o", str(tmp_path / "x.zip"))
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    assert not (tmp_path / "x.zip").exists()


async def test_version_is_printed() -> None:
    import eventclip

    done = await asyncio.to_thread(
        subprocess.run, [str(EVENTCLIP), "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"eventclip {eventclip.__version__}"
