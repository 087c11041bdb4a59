"""API keys and roles, with the four services as real processes on PostgreSQL
and keys made with the CLI: no key or an unknown one is refused
(UNAUTHENTICATED / 401), a role calling beyond its reach is refused
(PERMISSION_DENIED / 403), the services reach each other with the service key
(a pos key's refund becomes an alert and a READY clip), the audit trail names
the key, a revoked key is refused within seconds, health stays open; and
``eventclip run`` with no key yet makes and prints the first admin key."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from backends import refund
from conftest import free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from processes import EVENTCLIP, Suite, make_key, wait_serving, write_config

from eventclip.timeutil import to_duration, to_timestamp
from eventclip.v1 import clips_pb2, clips_pb2_grpc, events_pb2, events_pb2_grpc


def secured(suite: Suite) -> Suite:
    suite.env["EVENTCLIP_AUTH__ENABLED"] = "true"  # conftest turns keys off for other tests
    suite.env["EVENTCLIP_LOG_FORMAT"] = "text"
    return suite


@pytest.fixture
def four_processes(tmp_path: Path, postgres_schema: str) -> Iterator[Suite]:
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    config = write_config(
        tmp_path, ports, database_url=postgres_schema, auth={"media_url_ttl_seconds": 3}
    )
    suite = secured(Suite(config, ports))
    for name in ports:
        suite.start(name)
    try:
        yield suite
    finally:
        suite.stop_all()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def refused(call, code: grpc.StatusCode) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details()


async def reflected_services(channel: grpc.aio.Channel, metadata=None) -> list[str]:  # type: ignore[no-untyped-def]
    """The services the server lists over gRPC server reflection. The request
    goes as an iterator, so a refusal surfaces as the call's status rather than
    as a failed write racing it."""
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([request]), metadata=metadata
    )
    async for reply in call:
        return [s.name for s in reply.list_services_response.service]
    return []


async def wait_ready(stub: clips_pb2_grpc.ClipServiceStub, clip_id: str, token: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while True:
        clip = await stub.GetClip(clips_pb2.GetClipRequest(id=clip_id), metadata=bearer(token))
        if clip.state in (clips_pb2.Clip.READY, clips_pb2.Clip.FAILED):
            return clip
        assert time.monotonic() < deadline, clip
        await asyncio.sleep(0.2)


async def test_keys_and_roles_over_grpc_and_rest(four_processes: Suite) -> None:
    suite = four_processes
    await wait_serving(suite)  # health and /healthz answer without a key
    viewer, reviewer, pos = (make_key(suite, r) for r in ("viewer", "reviewer", "pos"))
    for name in ("buffer", "clipper", "events"):  # health answers without a key
        async with grpc.aio.insecure_channel(suite.grpc_target(name)) as channel:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                    break
                except grpc.aio.AioRpcError:
                    assert time.monotonic() < deadline, suite.tail()
                    await asyncio.sleep(0.2)
    async with (
        grpc.aio.insecure_channel(suite.grpc_target("clipper")) as clipper_channel,
        grpc.aio.insecure_channel(suite.grpc_target("events")) as events_channel,
    ):
        clips = clips_pb2_grpc.ClipServiceStub(clipper_channel)
        events = events_pb2_grpc.EventServiceStub(events_channel)
        # Reflection needs a key unless auth.open_reflection (off by default).
        await refused(reflected_services(clipper_channel), grpc.StatusCode.UNAUTHENTICATED)
        assert "eventclip.v1.ClipService" in await reflected_services(
            clipper_channel, bearer(viewer)
        )
        listing = clips_pb2.ListClipsRequest()
        assert "no API key" in await refused(
            clips.ListClips(listing), grpc.StatusCode.UNAUTHENTICATED
        )
        assert "unknown or revoked" in await refused(
            clips.ListClips(listing, metadata=bearer("eck_not-a-key")),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        await clips.ListClips(listing, metadata=bearer(viewer))
        manual = clips_pb2.CreateClipRequest(
            camera_id="cam",
            event_time=to_timestamp(time.time()),
            pre_roll=to_duration(1),
            post_roll=to_duration(1),
        )
        assert "may not call CreateClip" in await refused(
            clips.CreateClip(manual, metadata=bearer(viewer)), grpc.StatusCode.PERMISSION_DENIED
        )
        await refused(
            clips.ListClips(listing, metadata=bearer(pos)), grpc.StatusCode.PERMISSION_DENIED
        )
        await refused(
            events.SubmitEvent(
                events_pb2.SubmitEventRequest(event=refund("till-1")), metadata=bearer(viewer)
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        # The pos key's refund: events -> clipper -> buffer, each with the service key.
        await asyncio.sleep(3)  # pre-roll buffered
        answer = await events.SubmitEvent(
            events_pb2.SubmitEventRequest(event=refund("till-1")), metadata=bearer(pos)
        )
        [clip_id] = answer.clip_ids
        clip = await wait_ready(clips, clip_id, viewer)
        assert clip.state == clips_pb2.Clip.READY, clip.failure_reason

    async with httpx.AsyncClient(base_url=suite.http, timeout=20) as http:
        assert (await http.get("/healthz")).status_code == 200
        anonymous = await http.get("/api/v1/clips")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["status"] == "UNAUTHENTICATED"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        as_viewer = {"authorization": f"Bearer {viewer}"}
        assert (await http.get("/api/v1/clips", headers=as_viewer)).status_code == 200
        body = {"cameraId": "cam", "timestamp": "2026-01-01T00:00:00Z"}
        denied = await http.post("/api/v1/clips", json=body, headers=as_viewer)
        assert denied.status_code == 403 and denied.json()["error"]["status"] == "PERMISSION_DENIED"
        made = await http.post(
            "/api/v1/clips", json=body, headers={"authorization": f"Bearer {reviewer}"}
        )
        assert made.status_code == 202, made.text
        audit = await http.get(f"/api/v1/clips/{made.json()['id']}/audit", headers=as_viewer)
        assert audit.json()["entries"][0]["actor"] == "reviewer-1"  # the key's name

        # Signed media links play without a header, for the key they were made for.
        ready = (await http.get(f"/api/v1/clips/{clip_id}", headers=as_viewer)).json()
        video = ready["links"]["video"]
        assert "sig=" in video and "by=viewer-1" in video
        played = await http.get(video)
        assert played.status_code == 200 and played.headers["content-type"] == "video/mp4"
        assert played.content[4:8] == b"ftyp" and len(played.content) == int(ready["sizeBytes"])
        assert (await http.get(ready["links"]["thumbnail"])).status_code == 200
        trail = (await http.get(f"/api/v1/clips/{clip_id}/audit", headers=as_viewer)).json()
        assert trail["entries"][-1]["action"] == "viewed"
        assert trail["entries"][-1]["actor"] == "viewer-1"
        for altered in (
            video.replace("by=viewer-1", "by=admin"),
            video.replace("/video?", "/thumbnail?"),
            video[:-2] + ("00" if not video.endswith("00") else "11"),
        ):
            refusal = await http.get(altered)
            assert refusal.status_code == 403 and "altered" in refusal.text, altered
        assert (
            await http.get(f"/api/v1/clips/{clip_id}/audit?sig=x&by=a&expires=9")
        ).status_code == 401
        await asyncio.sleep(3.5)  # auth.media_url_ttl_seconds is 3 here
        expired = await http.get(video)
        assert expired.status_code == 403 and "expired" in expired.text

        await asyncio.to_thread(
            subprocess.run,
            [str(EVENTCLIP), "keys", "revoke", "viewer-1", "--config", str(suite.config)],
            env=suite.env,
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 10
        while (await http.get("/api/v1/clips", headers=as_viewer)).status_code != 401:
            assert time.monotonic() < deadline, "a revoked key still works"
            await asyncio.sleep(0.5)


async def test_eventclip_run_makes_and_prints_the_first_admin_key(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    suite = secured(Suite(write_config(tmp_path, ports), ports))
    suite.start("all")
    try:
        await wait_serving(suite, names=())
        deadline = time.monotonic() + 10
        while "Press Ctrl-C" not in (log := suite.logs["all"].read_text()):
            assert time.monotonic() < deadline, log
            await asyncio.sleep(0.1)
        assert "made the admin key 'admin'" in log
        token = next(w for line in log.splitlines() for w in line.split() if w.startswith("eck_"))
        async with httpx.AsyncClient(base_url=suite.http, timeout=10) as http:
            answer = await http.get("/api/v1/clips", headers={"authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            assert (await http.get("/api/v1/clips")).status_code == 401
        suite.stop("all")
        suite.start("all")  # a key exists now: none is made again
        await wait_serving(suite, names=())
        deadline = time.monotonic() + 10
        while suite.logs["all"].read_text().count("Press Ctrl-C") < 2:
            assert time.monotonic() < deadline, suite.tail()
            await asyncio.sleep(0.1)
        assert suite.logs["all"].read_text().count("made the admin key") == 1
    finally:
        suite.stop_all()


def test_every_rpc_has_a_permission() -> None:
    """A new RPC must be placed in auth/roles.py (else only admin and the
    services may call it)."""
    from eventclip.auth.roles import METHOD_PERMISSION
    from eventclip.v1 import buffer_pb2

    methods = {
        f"/{service.full_name}/{method.name}"
        for module in (buffer_pb2, clips_pb2, events_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert methods == set(METHOD_PERMISSION)
