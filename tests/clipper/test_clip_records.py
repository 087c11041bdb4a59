"""Cancel, legal hold, retention and the audit trail through ClipService over real
gRPC, with real clip files on disk (H.264 from libx264 cut by the job's remux)."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from pathlib import Path

import grpc

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.retention import RetentionSweeper, media_keys
from eventclip.timeutil import timestamp_seconds, utcnow
from eventclip.v1 import clips_pb2

from .harness import Harness, expect_error, request, running_clipper
from .media import make_ready

State = clips_pb2.Clip.State
Kind = clips_pb2.ReadClipMediaRequest.Kind
SPEC = SyntheticSpec(width=320, height=180, fps=15, gop_frames=15)


async def ready_clip(clipper: Harness, **fields: object) -> clips_pb2.Clip:
    created = await clipper.stub.CreateClip(request(**fields))
    service = clipper.service.clipper
    await asyncio.to_thread(make_ready, service.store, service.storage, created.id, SPEC, 30)
    return await clipper.stub.GetClip(clips_pb2.GetClipRequest(id=created.id))


async def trail(clipper: Harness, clip_id: str) -> clips_pb2.ListAuditEntriesResponse:
    return await clipper.stub.ListAuditEntries(
        clips_pb2.ListAuditEntriesRequest(clip_id=clip_id, page_size=1000)
    )


async def read(clipper: Harness, clip_id: str, kind: int, **fields: object) -> bytes:
    request = clips_pb2.ReadClipMediaRequest(clip_id=clip_id, kind=kind, **fields)
    return b"".join([m.data async for m in clipper.stub.ReadClipMedia(request)])


async def test_cancel_stops_a_waiting_clip(clipper: Harness) -> None:
    stub = clipper.stub
    created = await stub.CreateClip(request())
    cancelled = await stub.CancelClip(clips_pb2.CancelClipRequest(id=created.id))
    assert cancelled.state == State.CANCELLED
    # The job is gone, not only the row (its window is an hour away).
    await asyncio.wait_for(clipper.service.clipper.jobs.wait_idle(), 5)
    again = await stub.CancelClip(clips_pb2.CancelClipRequest(id=created.id))
    assert again == cancelled
    await expect_error(
        read(clipper, created.id, Kind.VIDEO), grpc.StatusCode.NOT_FOUND, "cancelled"
    )
    await expect_error(
        stub.HoldClip(clips_pb2.HoldClipRequest(id=created.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CANCELLED",
    )
    audit = await trail(clipper, created.id)
    assert [(e.action, e.actor) for e in audit.entries] == [
        ("created", "anonymous"),
        ("cancelled", "anonymous"),
    ]
    assert audit.chain_intact


async def test_cancel_of_a_finished_clip_is_refused(clipper: Harness) -> None:
    clip = await ready_clip(clipper)
    await expect_error(
        clipper.stub.CancelClip(clips_pb2.CancelClipRequest(id=clip.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "READY",
    )
    await expect_error(
        clipper.stub.CancelClip(clips_pb2.CancelClipRequest(id="nope")),
        grpc.StatusCode.NOT_FOUND,
        "nope",
    )


async def test_reads_are_audited_and_the_trail_pages(clipper: Harness) -> None:
    clip = await ready_clip(clipper)
    await read(clipper, clip.id, Kind.VIDEO)  # viewed
    await read(clipper, clip.id, Kind.VIDEO, offset=100)  # a later range: not audited
    await read(clipper, clip.id, Kind.THUMBNAIL, download=True)  # downloaded
    first = await clipper.stub.ListAuditEntries(
        clips_pb2.ListAuditEntriesRequest(clip_id=clip.id, page_size=2)
    )
    entries = list(first.entries)
    token = first.next_page_token
    while token:
        page = await clipper.stub.ListAuditEntries(
            clips_pb2.ListAuditEntriesRequest(clip_id=clip.id, page_size=2, page_token=token)
        )
        entries += page.entries
        token = page.next_page_token
    assert [(e.action, e.detail) for e in entries[-2:]] == [
        ("viewed", "video from byte 0"),
        ("downloaded", "thumbnail from byte 0"),
    ]
    assert [e.action for e in entries[:2]] == ["created", "ready"]
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.previous_sha256 == p.sha256 for p, e in itertools.pairwise(entries))
    assert first.chain_intact and first.chain_error == ""
    await expect_error(
        clipper.stub.ListAuditEntries(
            clips_pb2.ListAuditEntriesRequest(clip_id=clip.id, page_token="bad")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    )


def file_paths(clipper: Harness, clip_id: str) -> list[Path]:
    record = clipper.service.clipper.store.get(clip_id)
    assert record is not None
    return [clipper.data_dir / "clips" / key for key in media_keys(record)]


async def test_retention_deletes_expired_media_but_not_held_clips(clipper: Harness) -> None:
    """A sweep 31 days on (the default retention is 30 days): the expired clip
    loses its files, the held one keeps them until it is released."""
    stub = clipper.stub
    expired = await ready_clip(clipper)
    held = await ready_clip(clipper)
    assert timestamp_seconds(expired.expire_time) - timestamp_seconds(expired.update_time) == (
        30 * 86400
    )
    expired_files, held_files = file_paths(clipper, expired.id), file_paths(clipper, held.id)
    assert len(expired_files) >= 2 and all(p.is_file() for p in expired_files + held_files)

    reply = await stub.HoldClip(clips_pb2.HoldClipRequest(id=held.id, reason="case 17"))
    assert reply.legal_hold
    service = clipper.service.clipper
    sweeper = RetentionSweeper(
        service.store,
        service.storage,
        interval_seconds=3600,
        clock=lambda: utcnow() + timedelta(days=31),
    )
    assert await asyncio.to_thread(sweeper.sweep) == [expired.id]

    gone = await stub.GetClip(clips_pb2.GetClipRequest(id=expired.id))
    assert gone.state == State.DELETED and gone.HasField("delete_time")
    assert gone.sha256 == expired.sha256  # what was there is still on record
    assert not any(p.exists() for p in expired_files)
    assert all(p.is_file() for p in held_files)
    for kind in (Kind.VIDEO, Kind.THUMBNAIL):
        await expect_error(
            read(clipper, expired.id, kind), grpc.StatusCode.NOT_FOUND, "deleted by retention"
        )
    deleted_entry = (await trail(clipper, expired.id)).entries[-1]
    assert (deleted_entry.action, deleted_entry.actor) == ("deleted", "system")
    assert "removed video, thumbnail" in deleted_entry.detail
    await expect_error(
        stub.HoldClip(clips_pb2.HoldClipRequest(id=expired.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DELETED",
    )

    assert await asyncio.to_thread(sweeper.sweep) == []  # held: survives another sweep
    assert (await read(clipper, held.id, Kind.VIDEO))[4:8] == b"ftyp"

    released = await stub.ReleaseClip(clips_pb2.ReleaseClipRequest(id=held.id, reason="closed"))
    assert not released.legal_hold
    assert await asyncio.to_thread(sweeper.sweep) == [held.id]
    assert not any(p.exists() for p in held_files)
    audit = await trail(clipper, held.id)
    assert [e.action for e in audit.entries] == [
        "created",
        "ready",
        "held",
        "viewed",
        "released",
        "deleted",
    ]
    assert [audit.entries[n].detail for n in (2, 4)] == ["case 17", "closed"]
    assert audit.chain_intact


async def test_the_service_sweeps_on_its_own(tmp_path: Path) -> None:
    """retention.* from the settings: media kept 1 s, swept every 0.2 s."""
    async with running_clipper(
        tmp_path, retention={"clip_max_age_seconds": 1, "sweep_interval_seconds": 0.2}
    ) as clipper:
        clip = await ready_clip(clipper)
        files = file_paths(clipper, clip.id)
        deadline = time.monotonic() + 15
        while clip.state != State.DELETED:
            assert time.monotonic() < deadline, "the sweeper never deleted the clip"
            await asyncio.sleep(0.1)
            clip = await clipper.stub.GetClip(clips_pb2.GetClipRequest(id=clip.id))
        # The row turns DELETED first (it must never name media that is gone), then
        # the files go, in the same sweep.
        while any(p.exists() for p in files):
            assert time.monotonic() < deadline, f"DELETED, but files remain: {files}"
            await asyncio.sleep(0.05)
