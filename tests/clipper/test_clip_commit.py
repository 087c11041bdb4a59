"""Committing a cut clip: the MP4 and its thumbnail stored with the SHA-256 of
exactly the bytes stored, the thumbnail made beside the hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventclip.buffer.synthetic import SyntheticSpec
from eventclip.clipper.commit import commit_hashed, finish_clip, storage_keys, thumbnail_of
from eventclip.clipper.live import LiveRemux
from eventclip.clipper.models import ClipRecord
from eventclip.clipper.storage import LocalStorage, file_digest
from eventclip.clipper.thumbnail import make_thumbnail
from eventclip.media.mp4 import remux_to_mp4
from eventclip.v1 import buffer_pb2

from .media import synthetic_timeline

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
SPEC = SyntheticSpec(width=640, height=360, fps=15, gop_frames=15)


def record(event_time: datetime) -> ClipRecord:
    return ClipRecord(
        id="0190a1b2c3d4e5f60718",
        camera_id="cam1",
        start_time=T0,
        end_time=T0 + timedelta(seconds=4),
        event_time=event_time,
        create_time=T0,
        update_time=T0,
    )


def test_recorded_hashes_are_those_of_the_stored_bytes(tmp_path: Path) -> None:
    window = synthetic_timeline(SPEC, 60, T0)  # keyframes at 0, 1, 2, 3 s
    clip = record(T0 + timedelta(seconds=2.4))  # nearest keyframe: 2 s
    storage = LocalStorage(tmp_path / "clips")
    remux = LiveRemux(storage.staging_path("cam1/x.mp4"), start_time=T0)
    remux.feed(buffer_pb2.ReadWindowResponse(codec=window.codec))
    for i in range(0, len(window.packets), 7):
        batch = buffer_pb2.PacketBatch(packets=window.packets[i : i + 7])
        remux.feed(buffer_pb2.ReadWindowResponse(packets=batch))

    values = finish_clip(clip, remux, storage)

    video_key, thumbnail_key = storage_keys(clip)
    mp4 = storage.path(video_key).read_bytes()
    assert values["video_key"] == video_key
    assert values["sha256"] == hashlib.sha256(mp4).hexdigest()
    assert values["size_bytes"] == len(mp4)
    # The very file the batch remux writes: +faststart's rewrite is in the hash.
    batch = tmp_path / "batch.mp4"
    remux_to_mp4([window], batch, start_time=T0)
    assert batch.read_bytes() == mp4
    jpeg = storage.path(thumbnail_key).read_bytes()
    assert values["thumbnail_key"] == thumbnail_key
    assert values["thumbnail_sha256"] == hashlib.sha256(jpeg).hexdigest()
    assert values["thumbnail_size_bytes"] == len(jpeg)
    expected = make_thumbnail([window], clip.event_time)
    assert expected.keyframe_time == T0 + timedelta(seconds=2)
    assert jpeg == expected.jpeg
    assert not any((tmp_path / "clips" / ".staging").iterdir())


def test_a_thumbnail_that_cannot_be_made_leaves_the_video(tmp_path: Path) -> None:
    window = synthetic_timeline(SPEC, 30, T0)
    storage = LocalStorage(tmp_path / "clips")
    staged = storage.staging_path("cam1/x.mp4")
    result = remux_to_mp4([window], staged)
    # The keyframe's data is not what the codec parameters describe: no picture.
    broken = buffer_pb2.Packet(
        data=b"\0\0\1\x65junk", keyframe=True, wall_time=window.packets[0].wall_time
    )
    sha256 = file_digest(staged)[1]

    values = commit_hashed(
        record(T0), result, staged, sha256, thumbnail_of((window.codec, broken)), storage
    )

    assert "thumbnail_key" not in values
    assert values["sha256"] == file_digest(storage.path(values["video_key"]))[1]


def test_file_digest_flushes_and_hashes_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    payload = bytes(range(256)) * 40_000
    path.write_bytes(payload)

    assert file_digest(path, fsync=True) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert file_digest(path) == file_digest(path, fsync=True)
