"""Signed evidence packages from real clips: the buffer (a synthetic:// camera
encoded by libx264 through PyAV), the events service and the clipper all run
for real on loopback gRPC; a refund raises an alert whose two clips are cut
live, and ExportEvidence packs them. The package verifies with the clipper's
key (with eventclip and with OpenSSL, as its README says); one changed byte in
any member, a wrong key, or a file changed at rest is caught and named."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from backends import Backends, refund, running_backends
from conftest import BUILTIN_PLUGINS, free_port
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventclip.clipper import package
from eventclip.clipper.signing import load_public_key, public_pem
from eventclip.config import Settings, load_settings
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2, events_pb2_grpc

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAMERAS = ["cam-a", "cam-b"]


@dataclass
class Site:
    settings: Settings
    backends: Backends
    clips: clips_pb2_grpc.ClipServiceStub
    events: events_pb2_grpc.EventServiceStub
    public_key: clips_pb2.EvidencePublicKey


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    data_dir = tmp_path_factory.mktemp("evidence")
    settings = load_settings(
        data_dir=data_dir,
        cameras=[
            {"id": c, "source": "synthetic://320x180@15?gop=15", "buffer_seconds": 30}
            for c in CAMERAS
        ],
        registers=[{"id": "till-1", "cameras": CAMERAS}],
        clips={"pre_roll_seconds": 1, "post_roll_seconds": 1},
        plugins=BUILTIN_PLUGINS,
        services={name: {"port": free_port()} for name in ("buffer", "events", "clipper")},
    )
    async with running_backends(settings) as backends:
        await backends.wait_buffered(CAMERAS, 2)
        key = await backends.clips.GetEvidencePublicKey(clips_pb2.GetEvidencePublicKeyRequest())
        yield Site(settings, backends, backends.clips, backends.events, key)


async def export(site: Site, alert_id: str) -> tuple[str, bytes]:
    replies = [
        r
        async for r in site.clips.ExportEvidence(clips_pb2.ExportEvidenceRequest(alert_id=alert_id))
    ]
    assert all(len(r.data) <= 1 << 20 for r in replies)
    assert replies[0].content_type == "application/zip"
    return replies[0].file_name, b"".join(r.data for r in replies)


@dataclass
class Exported:
    alert: events_pb2.Alert
    clips: list[clips_pb2.Clip]
    path: Path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def exported(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    reply = await site.events.SubmitEvent(events_pb2.SubmitEventRequest(event=refund("till-1")))
    assert reply.alert.id and len(reply.clip_ids) == 2
    clips = [await site.backends.finished(clip_id) for clip_id in reply.clip_ids]
    assert all(c.state == clips_pb2.Clip.READY for c in clips), clips
    file_name, data = await export(site, reply.alert.id)
    assert file_name == f"evidence-{reply.alert.id}.zip"
    path = tmp_path_factory.mktemp("package") / file_name
    path.write_bytes(data)
    return Exported(reply.alert, clips, path)


def public_key(site: Site):
    return load_public_key(site.public_key.pem.encode(), "the clipper's key")


async def test_the_package_holds_the_clips_event_alert_and_trails(
    site: Site, exported: Exported
) -> None:
    check = package.verify_package(exported.path, public_key(site))
    assert check.ok, check.problem
    assert check.alert_id == exported.alert.id
    assert check.manifest_key_sha256 == site.public_key.fingerprint_sha256

    with zipfile.ZipFile(exported.path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
        assert manifest["format"] == "eventclip-evidence/1"
        assert manifest["signature"]["algorithm"] == "Ed25519"
        listed = {f["path"] for f in manifest["files"]}
        assert listed == names - {"manifest.json", "manifest.sig"}
        assert len(archive.read("manifest.sig")) == 64
        event = json.loads(archive.read("event.json"))
        assert event["eventId"] == exported.alert.event_id
        assert json.loads(archive.read("alert.json"))["id"] == exported.alert.id
        for clip in exported.clips:
            base = f"clips/{clip.id}"
            video = archive.read(f"{base}/video.mp4")
            assert hashlib.sha256(video).hexdigest() == clip.sha256
            assert archive.getinfo(f"{base}/video.mp4").compress_type == zipfile.ZIP_STORED
            thumbnail = archive.read(f"{base}/thumbnail.jpg")
            assert hashlib.sha256(thumbnail).hexdigest() == clip.thumbnail_sha256
            sidecar = archive.read(f"{base}/metadata.json")
            assert hashlib.sha256(sidecar).hexdigest() == clip.metadata_sha256
            assert json.loads(sidecar)["files"]["video"]["sha256"] == clip.sha256
            trail = json.loads(archive.read(f"{base}/audit.json"))
            assert trail["chain_intact"]
            assert [e["action"] for e in trail["entries"]][:1] == ["created"]
            assert "ready" in [e["action"] for e in trail["entries"]]
            # The documented recipe recomputes every entry's hash and link.
            previous = "0" * 64
            for entry in trail["entries"]:
                body = {k: v for k, v in entry.items() if k != "sha256"}
                text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                assert hashlib.sha256(text.encode()).hexdigest() == entry["sha256"]
                assert entry["previous_sha256"] == previous
                previous = entry["sha256"]
    manifest_sha256 = hashlib.sha256(
        zipfile.ZipFile(exported.path).read("manifest.json")
    ).hexdigest()
    for clip in exported.clips:
        entries = await site.clips.ListAuditEntries(
            clips_pb2.ListAuditEntriesRequest(clip_id=clip.id)
        )
        last = entries.entries[-1]
        assert (last.action, last.actor) == ("exported", "anonymous")
        assert manifest_sha256 in last.detail
        assert entries.chain_intact


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
async def test_openssl_verifies_the_signature_as_the_readme_says(
    site: Site, exported: Exported, tmp_path: Path
) -> None:
    with zipfile.ZipFile(exported.path) as archive:
        archive.extractall(tmp_path)
        assert "openssl pkeyutl -verify" in archive.read("README.txt").decode()
    (tmp_path / "public-key.pem").write_text(site.public_key.pem)
    command = [
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "public-key.pem",
        "-rawin",
        "-in",
        "manifest.json",
        "-sigfile",
        "manifest.sig",
    ]
    good = await asyncio.to_thread(
        subprocess.run, command, cwd=tmp_path, capture_output=True, text=True
    )
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"size_bytes": ', b'"size_bytes":  ', 1))
    bad = await asyncio.to_thread(
        subprocess.run, command, cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode != 0


def rewrite(source: Path, target: Path, member: str, change) -> None:
    """Copy the package with ``member``'s bytes passed through ``change`` (a valid
    ZIP: the CRC is recomputed, so only the manifest can tell)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, change(data) if info.filename == member else data)


def flip_one_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


async def test_one_changed_byte_in_any_member_is_caught_and_named(
    site: Site, exported: Exported, tmp_path: Path
) -> None:
    key = public_key(site)
    with zipfile.ZipFile(exported.path) as archive:
        members = archive.namelist()
    assert len(members) >= 13  # README, alert, event, 2 x 5 clip files, manifest + sig
    for member in members:
        changed = tmp_path / "changed.zip"
        rewrite(exported.path, changed, member, flip_one_byte)
        check = package.verify_package(changed, key)
        assert not check.ok, member
        expected = "manifest.sig" if member == "manifest.json" else member
        assert check.member == expected, check.problem
        assert member in check.problem


async def test_damage_to_the_zip_itself_is_named(
    site: Site, exported: Exported, tmp_path: Path
) -> None:
    """A byte changed in the archive file (not re-zipped): the CRC catches it."""
    with zipfile.ZipFile(exported.path) as archive:
        info = archive.getinfo(f"clips/{exported.clips[0].id}/video.mp4")
    data = bytearray(exported.path.read_bytes())
    data[info.header_offset + 200] ^= 0xFF  # inside the stored video bytes
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    check = package.verify_package(damaged, public_key(site))
    assert check.member == info.filename and "damaged" in check.problem


async def test_added_files_and_another_key_are_refused(
    site: Site, exported: Exported, tmp_path: Path
) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    check = package.verify_package(exported.path, other)
    assert check.member == "manifest.sig" and "another key" in check.problem

    extra = tmp_path / "extra.zip"
    shutil.copy(exported.path, extra)
    with zipfile.ZipFile(extra, "a") as archive:
        archive.writestr("clips/planted.mp4", b"not evidence")
    check = package.verify_package(extra, public_key(site))
    assert check.member == "clips/planted.mp4" and "not in the manifest" in check.problem


async def test_a_file_changed_at_rest_is_not_signed(site: Site, exported: Exported) -> None:
    clip = exported.clips[0]
    stored = next((site.settings.clips_dir).rglob(f"{clip.id}.jpg"))
    original = stored.read_bytes()
    stored.write_bytes(flip_one_byte(original))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await export(site, exported.alert.id)
        assert info.value.code() == grpc.StatusCode.DATA_LOSS
        assert "thumbnail.jpg" in (info.value.details() or "")
    finally:
        stored.write_bytes(original)
    assert not list((site.settings.clips_dir / ".staging").glob("*evidence*"))


async def test_unknown_alerts_and_alerts_without_ready_clips(site: Site) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await export(site, "no-such-alert")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    reply = await site.events.SubmitEvent(events_pb2.SubmitEventRequest(event=refund("till-1")))
    for clip_id in reply.clip_ids:
        await site.clips.CancelClip(clips_pb2.CancelClipRequest(id=clip_id))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await export(site, reply.alert.id)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "CANCELLED" in (info.value.details() or "")


async def test_the_public_key_is_the_one_on_disk(site: Site) -> None:
    key = site.public_key
    assert key.algorithm == "Ed25519" and key.pem.startswith("-----BEGIN PUBLIC KEY-----")
    path = site.settings.signing_key_path
    assert path.stat().st_mode & 0o777 == 0o600
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    assert public_pem(private.public_key()) == key.pem
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert hashlib.sha256(raw).hexdigest() == key.fingerprint_sha256
