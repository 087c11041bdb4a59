"""The gateway over real HTTP in front of the REAL buffer, clipper and events
services, all started in this process with their own ``start(settings)`` on
free ports and talking over loopback gRPC; a synthetic H.264 camera feeds the
buffer. One suite per module keeps the file to seconds; the test that stops a
backend runs last."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import pytest_asyncio
from conftest import BUILTIN_PLUGINS, free_port

from eventclip.app import start_services, stop_services
from eventclip.config import load_settings
from eventclip.rpc import RunningService
from eventclip.timeutil import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAMERA = "cam1"
REGISTER = "till-1"
#: 1 s GOPs of a small 16:9 picture (the thumbnail is letterboxed to 320x240).
SOURCE = "synthetic://320x180@15?gop=15"
ROLL_SECONDS = 1.0

#: What every bodiless POST sends (the gateway refuses other types, eventclip.gateway.guard).
JSON = {"content-type": "application/json"}


@dataclass
class Suite:
    services: dict[str, RunningService]
    http: httpx.AsyncClient


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    data_dir: Path = tmp_path_factory.mktemp("gateway-suite")
    settings = load_settings(
        data_dir=data_dir,
        cameras=[{"id": CAMERA, "source": SOURCE, "buffer_seconds": 30}],
        registers=[{"id": REGISTER, "cameras": [CAMERA]}],
        plugins=[*BUILTIN_PLUGINS, "detection_confidence"],
        clips={
            "pre_roll_seconds": ROLL_SECONDS,
            "post_roll_seconds": ROLL_SECONDS,
        },
        services={
            "buffer": {"port": free_port()},
            "events": {"port": free_port()},
            "clipper": {"port": free_port()},
            "gateway": {"port": 0},
        },
    )
    started = await start_services(settings, ["buffer", "clipper", "events", "gateway"])
    services = {s.name: s for s in started}
    try:
        base_url = f"http://127.0.0.1:{services['gateway'].port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
            yield Suite(services, http)
    finally:
        await stop_services(list(services.values()), grace=2.0)


async def wait_buffered(http: httpx.AsyncClient, seconds: float) -> dict[str, Any]:
    """The camera once its ring holds ``seconds`` of video (fails after 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        camera = (await http.get(f"/api/v1/cameras/{CAMERA}")).json()
        if float(camera.get("bufferedDuration", "0s").rstrip("s")) >= seconds:
            return camera
        assert time.monotonic() < deadline, f"camera never buffered {seconds} s: {camera}"
        await asyncio.sleep(0.2)


async def wait_settled(http: httpx.AsyncClient, clip_id: str) -> dict[str, Any]:
    """The clip once READY or FAILED (fails after 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        clip = (await http.get(f"/api/v1/clips/{clip_id}")).json()
        if clip["state"] in ("READY", "FAILED"):
            return clip
        assert time.monotonic() < deadline, f"clip stuck in {clip['state']}"
        await asyncio.sleep(0.2)


def refund(**changes: Any) -> dict[str, Any]:
    """An unapproved USD 500 refund at REGISTER half a second ago, proto3 JSON."""
    occurred = utcnow() - timedelta(seconds=0.5)
    return {
        "eventId": f"pos-{uuid.uuid4().hex[:10]}",
        "type": "REFUND",
        "storeId": "s1",
        "registerId": REGISTER,
        "operatorId": "op7",
        "amount": {"currencyCode": "USD", "units": "500", "nanos": 0},
        "transactionId": "t1",
        "occurredAt": occurred.isoformat().replace("+00:00", "Z"),
        **changes,
    }


def error_status(response: httpx.Response) -> tuple[int, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return response.status_code, error["status"]


async def test_cameras_are_listed(suite: Suite) -> None:
    camera = await wait_buffered(suite.http, 0.5)
    assert camera["id"] == CAMERA
    assert camera["state"] == "ONLINE"
    assert (camera["codec"]["width"], camera["codec"]["height"]) == (320, 180)
    assert int(camera["bufferedBytes"]) > 0  # int64 as a string
    listed = (await suite.http.get("/api/v1/cameras")).json()
    assert [c["id"] for c in listed["cameras"]] == [CAMERA]
    missing = await suite.http.get("/api/v1/cameras/nope")
    assert error_status(missing) == (404, "NOT_FOUND")


async def test_camera_snapshot_is_a_jpeg_of_the_camera(suite: Suite) -> None:
    await wait_buffered(suite.http, 1.5)
    full = await suite.http.get(f"/api/v1/cameras/{CAMERA}/snapshot")
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "image/jpeg"
    assert full.headers["last-modified"].endswith(" GMT")
    with av.open(io.BytesIO(full.content)) as container:
        picture = next(container.decode(video=0))
        assert (picture.width, picture.height) == (320, 180)
    small = await suite.http.get(f"/api/v1/cameras/{CAMERA}/snapshot", params={"maxWidth": 160})
    with av.open(io.BytesIO(small.content)) as container:
        picture = next(container.decode(video=0))
        assert (picture.width, picture.height) == (160, 90)
    for _ in range(5):  # a new GOP (every second) may change the picture in between
        first = await suite.http.get(f"/api/v1/cameras/{CAMERA}/snapshot")
        again = await suite.http.get(
            f"/api/v1/cameras/{CAMERA}/snapshot", headers={"if-none-match": first.headers["etag"]}
        )
        if again.status_code == 304:
            break
        assert again.status_code == 200 and again.headers["etag"] != first.headers["etag"]
    else:
        pytest.fail("the ETag never held for two requests in a row")
    bad = await suite.http.get(f"/api/v1/cameras/{CAMERA}/snapshot", params={"maxWidth": -1})
    assert bad.status_code == 400
    assert error_status(await suite.http.get("/api/v1/cameras/nope/snapshot")) == (
        404,
        "NOT_FOUND",
    )


async def test_refund_raises_an_alert_with_clips_and_replays(suite: Suite) -> None:
    http = suite.http
    await wait_buffered(http, ROLL_SECONDS + 1)
    event = refund()
    first = await http.post("/api/v1/events", json=event)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["assessment"]["riskScore"] == pytest.approx(0.5)
    assert [r["rule"] for r in body["assessment"]["results"]] == ["refund_without_approval"]
    assert body["replayed"] is False
    alert = body["alert"]
    assert alert["registerId"] == REGISTER
    assert alert["reasons"][0]["reason"]
    assert len(alert["clipIds"]) == 1 and body["clipIds"] == alert["clipIds"]
    assert first.headers["location"] == f"/api/v1/alerts/{alert['id']}"

    retry = await http.post("/api/v1/events", json=event)
    assert retry.status_code == 200
    assert retry.json()["replayed"] is True
    assert retry.json()["alert"]["id"] == alert["id"]
    assert retry.json()["clipIds"] == alert["clipIds"]

    changed = await http.post(
        "/api/v1/events", json={**event, "amount": {"currencyCode": "USD", "units": "7"}}
    )
    assert error_status(changed) == (409, "ALREADY_EXISTS")

    got = (await http.get(f"/api/v1/alerts/{alert['id']}")).json()
    assert got["clipIds"] == alert["clipIds"]
    assert got["event"]["eventId"] == event["eventId"]
    listed = (await http.get("/api/v1/alerts", params={"registerId": REGISTER})).json()
    assert alert["id"] in [a["id"] for a in listed["alerts"]]
    clips = (await http.get("/api/v1/clips", params={"alertId": alert["id"]})).json()
    assert [c["id"] for c in clips["clips"]] == alert["clipIds"]
    assert clips["clips"][0]["eventId"] == event["eventId"]
    assert error_status(await http.get("/api/v1/alerts/nope")) == (404, "NOT_FOUND")

    clip = await wait_settled(http, alert["clipIds"][0])
    assert clip["state"] == "READY", clip


async def test_detection_raises_an_alert_with_a_clip_of_its_camera(suite: Suite) -> None:
    http = suite.http
    onset = (utcnow() - timedelta(seconds=0.5)).isoformat().replace("+00:00", "Z")
    body = {
        "eventId": f"det-{uuid.uuid4().hex[:10]}",
        "detection": {
            "cameraId": CAMERA,
            "label": "spill",
            "confidence": 0.9,
            "box": {"xMin": 0.1, "yMin": 0.6, "xMax": 0.3, "yMax": 0.8},
            "detector": "gpu-box",
        },
        "onsetTime": onset,
    }
    first = await http.post("/api/v1/detections", json=body)
    assert first.status_code == 201, first.text
    reply = first.json()
    assert reply["event"]["type"] == "DETECTION"
    assert reply["assessment"]["results"][0]["rule"] == "detection_confidence"
    assert len(reply["clipIds"]) == 1
    assert first.headers["location"] == f"/api/v1/alerts/{reply['alert']['id']}"
    assert (await http.post("/api/v1/detections", json=body)).status_code == 200  # a retry
    bad = {**body, "eventId": "det-bad", "detection": {**body["detection"], "confidence": 2}}
    assert error_status(await http.post("/api/v1/detections", json=bad)) == (
        400,
        "INVALID_ARGUMENT",
    )
    nowhere = {
        **body,
        "eventId": "det-nowhere",
        "detection": {**body["detection"], "cameraId": "x"},
    }
    assert error_status(await http.post("/api/v1/detections", json=nowhere)) == (404, "NOT_FOUND")


async def test_unknown_register_is_404(suite: Suite) -> None:
    response = await suite.http.post("/api/v1/events", json=refund(registerId="till-404"))
    assert error_status(response) == (404, "NOT_FOUND")
    assert "till-404" in response.json()["error"]["message"]


async def test_unparsable_event_is_400_naming_the_field(suite: Suite) -> None:
    response = await suite.http.post(
        "/api/v1/events", json=refund(amount={"currencyCode": "USD", "units": 500.5})
    )
    assert error_status(response) == (400, "INVALID_ARGUMENT")
    assert "units" in response.json()["error"]["message"]


async def test_unknown_clip_is_404(suite: Suite) -> None:
    for path in ("/api/v1/clips/nope", "/api/v1/clips/nope/video", "/api/v1/clips/nope/thumbnail"):
        assert error_status(await suite.http.get(path)) == (404, "NOT_FOUND"), path


async def test_manual_clip_video_ranges_and_thumbnail(suite: Suite) -> None:
    http = suite.http
    await wait_buffered(http, ROLL_SECONDS + 1)
    request = {
        "cameraId": CAMERA,
        "timestamp": utcnow().isoformat(),
        "preRollSeconds": ROLL_SECONDS,
        "postRollSeconds": ROLL_SECONDS,
    }
    created = await http.post("/api/v1/clips", json=request)
    assert created.status_code == 202, created.text
    clip = created.json()
    assert clip["state"] in ("PENDING", "RECORDING")  # RECORDING: following the camera
    assert clip["links"]["self"] == f"/api/v1/clips/{clip['id']}"
    # The post-roll is still in the future: no media yet.
    early = await http.get(clip["links"]["video"])
    assert error_status(early) == (412, "FAILED_PRECONDITION")

    clip = await wait_settled(http, clip["id"])
    assert clip["state"] == "READY", clip
    size = int(clip["sizeBytes"])

    video = await http.get(clip["links"]["video"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.headers["accept-ranges"] == "bytes"
    assert int(video.headers["content-length"]) == size == len(video.content)
    assert video.headers["etag"] == f'"{clip["sha256"]}"'
    assert hashlib.sha256(video.content).hexdigest() == clip["sha256"]
    with av.open(io.BytesIO(video.content)) as container:
        frames = list(container.decode(video=0))
    assert frames and frames[0].key_frame
    assert (frames[0].width, frames[0].height) == (320, 180)
    # Pre-roll + post-roll at 15 fps, plus up to one GOP before the start.
    assert 2 * ROLL_SECONDS * 15 - 3 <= len(frames) <= (2 * ROLL_SECONDS + 1) * 15 + 3

    data = video.content
    for header, start, end in [
        ("bytes=0-99", 0, 99),
        (f"bytes=100-{size + 500}", 100, size - 1),
        ("bytes=-64", size - 64, size - 1),
        (f"bytes={size - 10}-", size - 10, size - 1),
    ]:
        part = await http.get(clip["links"]["video"], headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.content == data[start : end + 1], header

    beyond = await http.get(clip["links"]["video"], headers={"Range": f"bytes={size}-"})
    assert error_status(beyond) == (416, "OUT_OF_RANGE")
    assert beyond.headers["content-range"] == f"bytes */{size}"
    cached = await http.get(
        clip["links"]["video"], headers={"If-None-Match": video.headers["etag"]}
    )
    assert cached.status_code == 304 and not cached.content
    stale = await http.get(
        clip["links"]["video"], headers={"Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale.status_code == 200 and stale.content == data

    thumbnail = await http.get(clip["links"]["thumbnail"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(thumbnail.content).hexdigest() == clip["thumbnailSha256"]
    with av.open(io.BytesIO(thumbnail.content)) as container:
        assert container.format.name in ("jpeg_pipe", "image2", "mjpeg")
        image = next(container.decode(video=0))
    assert (image.width, image.height) == (320, 240)

    by_camera = (await http.get("/api/v1/clips", params={"cameraId": CAMERA})).json()
    assert clip["id"] in [c["id"] for c in by_camera["clips"]]
    page = (await http.get("/api/v1/clips", params={"pageSize": 1})).json()
    assert len(page["clips"]) == 1 and page["nextPageToken"]
    assert clip["trim"] == "KEYFRAME"  # the configured default


async def test_manual_clip_asks_for_an_exact_start(suite: Suite) -> None:
    later = (utcnow() + timedelta(hours=1)).isoformat()  # the job only waits
    request = {"cameraId": CAMERA, "timestamp": later, "trim": "EXACT"}
    created = await suite.http.post("/api/v1/clips", json=request)
    assert created.status_code == 202, created.text
    clip = (await suite.http.get(f"/api/v1/clips/{created.json()['id']}")).json()
    assert clip["trim"] == "EXACT"


async def ready_alert_clip(suite: Suite) -> tuple[str, dict[str, Any]]:
    """(alert id, its READY clip) from a fresh refund."""
    await wait_buffered(suite.http, ROLL_SECONDS + 1)
    body = (await suite.http.post("/api/v1/events", json=refund())).json()
    clip = await wait_settled(suite.http, body["alert"]["clipIds"][0])
    assert clip["state"] == "READY", clip
    return body["alert"]["id"], clip


async def test_sidecar_download_and_audit_trail(suite: Suite) -> None:
    http = suite.http
    _alert_id, clip = await ready_alert_clip(suite)
    assert clip["links"]["metadata"] == f"/api/v1/clips/{clip['id']}/metadata.json"
    metadata = await http.get(clip["links"]["metadata"])
    assert metadata.status_code == 200
    assert metadata.headers["content-type"] == "application/json"
    assert hashlib.sha256(metadata.content).hexdigest() == clip["metadataSha256"]
    assert metadata.json()["files"]["video"]["sha256"] == clip["sha256"]
    assert metadata.headers["content-disposition"].startswith("inline")

    saved = await http.get(clip["links"]["video"], params={"download": "1"})
    assert saved.status_code == 200
    assert saved.headers["content-disposition"] == f'attachment; filename="{clip["id"]}.mp4"'
    assert hashlib.sha256(saved.content).hexdigest() == clip["sha256"]

    audit = (await http.get(clip["links"]["audit"])).json()
    actions = [e["action"] for e in audit["entries"]]
    assert actions[0] == "created" and "ready" in actions
    assert actions[-2:] == ["viewed", "downloaded"]
    assert audit["entries"][-1]["detail"] == "video from byte 0"
    assert audit["chainIntact"] is True and audit["chainError"] == ""
    assert int(audit["entries"][0]["sequence"]) == 1  # int64: a string in proto3 JSON
    missing = await http.get("/api/v1/clips/nope/audit")
    assert error_status(missing) == (404, "NOT_FOUND")


async def test_hold_release_cancel_as_custom_methods(suite: Suite) -> None:
    http = suite.http
    _alert_id, clip = await ready_alert_clip(suite)
    base = f"/api/v1/clips/{clip['id']}"
    held = await http.post(f"{base}:hold", json={"reason": "case 2026-17"})
    assert held.status_code == 200, held.text
    assert held.json()["legalHold"] is True
    again = await http.post(f"{base}:hold", headers=JSON)  # no body: unchanged
    assert again.status_code == 200 and again.json()["legalHold"] is True
    released = await http.post(f"{base}:release", json={"reason": "case closed"})
    assert released.json()["legalHold"] is False
    details = [
        (e["action"], e["detail"]) for e in (await http.get(f"{base}/audit")).json()["entries"]
    ]
    assert details[-2:] == [("held", "case 2026-17"), ("released", "case closed")]
    bad_body = await http.post(f"{base}:hold", json={"why": "x"})
    assert error_status(bad_body) == (400, "INVALID_ARGUMENT")

    finished = await http.post(f"{base}:cancel", headers=JSON)
    assert error_status(finished) == (412, "FAILED_PRECONDITION")
    future = await http.post(
        "/api/v1/clips",
        json={"cameraId": CAMERA, "timestamp": (utcnow() + timedelta(hours=1)).isoformat()},
    )
    future_id = future.json()["id"]
    cancelled = await http.post(f"/api/v1/clips/{future_id}:cancel", headers=JSON)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "CANCELLED"
    gone = await http.get(f"/api/v1/clips/{future_id}/video")
    assert error_status(gone) == (404, "NOT_FOUND")
    assert "cancelled" in gone.json()["error"]["message"]
    assert error_status(await http.post("/api/v1/clips/nope:cancel", headers=JSON)) == (
        404,
        "NOT_FOUND",
    )


async def test_deleted_media_is_410(suite: Suite) -> None:
    from eventclip.clipper.retention import RetentionSweeper

    _alert_id, clip = await ready_alert_clip(suite)
    clipper = suite.services["clipper"].clipper  # type: ignore[attr-defined]
    sweeper = RetentionSweeper(
        clipper.store,
        clipper.storage,
        interval_seconds=3600,
        clock=lambda: utcnow() + timedelta(days=400),
    )
    assert clip["id"] in await asyncio.to_thread(sweeper.sweep)
    for link in ("video", "thumbnail", "metadata"):
        response = await suite.http.get(clip["links"][link])
        assert response.status_code == 410, link
        assert "deleted by retention" in response.json()["error"]["message"]
    record = (await suite.http.get(clip["links"]["self"])).json()
    assert record["state"] == "DELETED" and record["deleteTime"]


async def test_evidence_package_over_rest_verifies(suite: Suite, tmp_path: Path) -> None:
    from eventclip.clipper.package import verify_package
    from eventclip.clipper.signing import load_public_key

    http = suite.http
    alert_id, clip = await ready_alert_clip(suite)
    response = await http.get(f"/api/v1/alerts/{alert_id}/evidence.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="evidence-{alert_id}.zip"'
    )
    package = tmp_path / "evidence.zip"
    package.write_bytes(response.content)
    pem = await http.get("/api/v1/evidence/public-key")
    assert pem.headers["content-type"].startswith("application/x-pem-file")
    key = load_public_key(pem.content, "the gateway's public key")
    check = verify_package(package, key)
    assert check.ok, check.problem
    assert f"clips/{clip['id']}/video.mp4" in check.checked
    as_json = await http.get("/api/v1/evidence/public-key", headers={"Accept": "application/json"})
    assert as_json.json()["pem"] == pem.text and len(as_json.json()["fingerprintSha256"]) == 64
    missing = await http.get("/api/v1/alerts/nope/evidence.zip")
    assert error_status(missing) == (404, "NOT_FOUND")


async def test_docs_serve(suite: Suite) -> None:
    assert (await suite.http.get("/docs")).status_code == 200
    paths = (await suite.http.get("/openapi.json")).json()["paths"]
    assert "/api/v1/clips" in paths
    assert {
        "/api/v1/clips/{clip_id}:cancel",
        "/api/v1/clips/{clip_id}:hold",
        "/api/v1/clips/{clip_id}:release",
        "/api/v1/clips/{clip_id}/audit",
        "/api/v1/clips/{clip_id}/metadata.json",
        "/api/v1/alerts/{alert_id}/evidence.zip",
        "/api/v1/evidence/public-key",
    } <= set(paths)


async def test_the_receipt_is_served_as_webvtt_on_the_clips_timeline(suite: Suite) -> None:
    """Each line from its scan time, then the event (total, tender, approval),
    relative to the clip's first frame; a card number typed into a description
    is masked; a manual clip has no receipt."""
    await wait_buffered(suite.http, ROLL_SECONDS + 1)
    occurred = utcnow() - timedelta(seconds=0.5)

    def at(seconds_before: float) -> str:
        return (occurred - timedelta(seconds=seconds_before)).isoformat().replace("+00:00", "Z")

    usd = {"currencyCode": "USD", "units": "250"}
    body = refund(
        occurredAt=at(0),
        lines=[
            {"sku": "1", "description": "Drill", "amount": usd, "scannedAt": at(1.0)},
            {"sku": "2", "description": "Gift card 4111 1111 1111 1111", "amount": usd},
        ],
        tender={"kind": "CARD", "cardLast4": "4242"},
    )
    alert = (await suite.http.post("/api/v1/events", json=body)).json()["alert"]
    assert alert["clipIds"], alert["noClipReason"]
    clip = await wait_settled(suite.http, alert["clipIds"][0])
    assert clip["state"] == "READY", clip
    response = await suite.http.get(clip["links"]["receipt"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/vtt; charset=utf-8"
    text = response.text
    assert text.startswith("WEBVTT\n")
    cues = re.findall(
        r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.*?)(?:\n\n|\n?\Z)",
        text,
        re.S,
    )
    assert len(cues) == 2, text

    def seconds(h: str, m: str, s: str, ms: str) -> float:
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    media_start = datetime.fromisoformat(clip["mediaStartTime"])
    first_start, first_end = seconds(*cues[0][:4]), seconds(*cues[0][4:8])
    second_start, second_end = seconds(*cues[1][:4]), seconds(*cues[1][4:8])
    scanned = (occurred - timedelta(seconds=1.0) - media_start).total_seconds()
    on_event = (occurred - media_start).total_seconds()
    assert first_start == pytest.approx(scanned, abs=0.002)
    assert first_end == second_start == pytest.approx(on_event, abs=0.002)
    assert second_end == pytest.approx(float(clip["duration"].rstrip("s")), abs=0.002)
    assert "1 x Drill  USD 250.00" in cues[0][8] and "Gift card" not in cues[0][8]
    assert "1 x Gift card **** 1111  USD 250.00" in cues[1][8]
    assert "total USD 500.00 · card **** 4242 · no approval" in cues[1][8]
    assert "4111" not in text

    manual = await suite.http.post(
        "/api/v1/clips",
        json={
            "cameraId": CAMERA,
            "timestamp": at(2),
            "preRollSeconds": 0.5,
            "postRollSeconds": 0.5,
        },
    )
    assert manual.status_code == 202, manual.text
    manual_clip = manual.json()
    assert "receipt" not in manual_clip["links"]
    missing = await suite.http.get(f"/api/v1/clips/{manual_clip['id']}/receipt.vtt")
    assert error_status(missing) == (404, "NOT_FOUND")


async def test_health_follows_the_backends(suite: Suite) -> None:
    # Last in the module: it stops a backend for good.
    healthy = await suite.http.get("/healthz")
    assert healthy.status_code == 200, healthy.text
    assert healthy.json() == {
        "status": "ok",
        "services": {"buffer": "SERVING", "events": "SERVING", "clipper": "SERVING"},
    }
    await suite.services.pop("clipper").stop(1.0)
    down = await suite.http.get("/healthz")
    assert down.status_code == 503
    services = down.json()["services"]
    assert services["buffer"] == services["events"] == "SERVING"
    assert services["clipper"].startswith("UNAVAILABLE")
    gone = await suite.http.get("/api/v1/clips")
    assert error_status(gone) == (503, "UNAVAILABLE")
