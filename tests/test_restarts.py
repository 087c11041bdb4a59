"""Stops, crashes and restarts during a post-roll, with the services as real
processes: no stop, restart or crash turns a partial clip into a READY one that
claims more than its media holds, and none loses what was already recorded.

The camera is a ``synthetic://`` source (libx264 in real time, a keyframe a
second); four-process suites share a schema on the real PostgreSQL,
``eventclip run`` uses its embedded SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import av
import grpc
import httpx
import processes
import pytest
from conftest import free_port
from processes import Suite, wait_buffered, wait_clip, wait_serving

from eventclip.timeutil import timestamp_seconds, to_duration, to_timestamp
from eventclip.v1 import clips_pb2, clips_pb2_grpc

pytestmark = pytest.mark.e2e

State = clips_pb2.Clip.State
FINISHED = (State.READY, State.FAILED)
PRE_ROLL, POST_ROLL = 3.0, 6.0
#: Into the post-roll when a process is stopped, seconds.
STOP_AFTER = 2.0
#: Shutdown grace: shorter than the post-roll left at the stop, so the job is
#: interrupted rather than finished (a job that ends within the grace finishes).
GRACE = 1.0
CAMERA = "synthetic://320x180@15?gop=15"


def write_config(tmp_path: Path, ports: dict[str, int], **extra: object) -> Path:
    """processes.write_config with this module's rolls and a 60 s ring."""
    return processes.write_config(
        tmp_path,
        ports,
        cameras=[{"id": "cam", "source": CAMERA, "buffer_seconds": 60}],
        clips={"pre_roll_seconds": PRE_ROLL, "post_roll_seconds": POST_ROLL},
        **extra,
    )


@pytest.fixture
def four_processes(tmp_path: Path, postgres_schema: str) -> Iterator[Suite]:
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    suite = Suite(write_config(tmp_path, ports, database_url=postgres_schema), ports, grace=GRACE)
    suite.env["EVENTCLIP_LOG_FORMAT"] = "text"
    for name in ports:
        suite.start(name)
    try:
        yield suite
    finally:
        suite.stop_all()


async def request_clip(suite: Suite) -> tuple[clips_pb2.Clip, float]:
    """A manual clip around now (a refund would request the same); (clip, event time)."""
    event = time.time()
    async with grpc.aio.insecure_channel(suite.grpc_target("clipper")) as channel:
        clip = await clips_pb2_grpc.ClipServiceStub(channel).CreateClip(
            clips_pb2.CreateClipRequest(
                camera_id="cam",
                event_time=to_timestamp(event),
                pre_roll=to_duration(PRE_ROLL),
                post_roll=to_duration(POST_ROLL),
                request_id=f"restart-test-{event}",
            ),
            timeout=10,
        )
    return clip, event


async def stop_in_post_roll(event: float) -> None:
    await asyncio.sleep(max(0.0, event + STOP_AFTER - time.time()))


async def download(suite: Suite, clip: clips_pb2.Clip) -> bytes:
    async with httpx.AsyncClient(base_url=suite.http, timeout=20) as http:
        video = await http.get(f"/api/v1/clips/{clip.id}/video")
    assert video.status_code == 200, video.text
    assert hashlib.sha256(video.content).hexdigest() == clip.sha256
    return video.content


def decoded_seconds(data: bytes, tmp_path: Path) -> float:
    """Seconds of video the MP4 plays (its frames' span plus one frame)."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with closing(av.open(str(path))) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    return max(times) + 1 / 15


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
async def test_clipper_stopped_in_a_post_roll_finishes_the_whole_clip(
    four_processes: Suite, sig: int, tmp_path: Path
) -> None:
    suite = four_processes
    await wait_serving(suite)
    await wait_buffered(suite, "cam", PRE_ROLL + 1)
    clip, event = await request_clip(suite)
    await wait_clip(suite, clip.id, (State.RECORDING,))
    await stop_in_post_roll(event)
    code = suite.stop(sig=sig, name="clipper")
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), suite.tail()
    if sig == signal.SIGTERM:
        log = suite.logs["clipper"].read_text()
        assert f"resume at the next start: {clip.id}" in log
        assert f"clip {clip.id} stopped while recording" in log
    await asyncio.sleep(1.0)
    suite.start("clipper")
    clip = await wait_clip(suite, clip.id, FINISHED)
    if sig == signal.SIGKILL:
        assert "the last run did not stop cleanly" in suite.logs["clipper"].read_text()
    # The buffer kept the second the clipper was down: the clip is whole.
    assert clip.state == State.READY, f"{clip}\n{suite.tail()}"
    assert clip.complete and not clip.gaps, clip.failure_reason
    # The stop (clean or a crash) cut an attempt short; it did not fail.
    assert clip.attempts == 1, clip
    assert timestamp_seconds(clip.media_start_time) <= event - PRE_ROLL + 0.01
    assert timestamp_seconds(clip.media_end_time) >= event + POST_ROLL - 1 / 15
    played = decoded_seconds(await download(suite, clip), tmp_path)
    assert played >= PRE_ROLL + POST_ROLL - 1 / 15


async def test_buffer_restarted_in_a_post_roll_leaves_a_gap(
    four_processes: Suite, tmp_path: Path
) -> None:
    suite = four_processes
    await wait_serving(suite)
    await wait_buffered(suite, "cam", PRE_ROLL + 1)
    clip, event = await request_clip(suite)
    await stop_in_post_roll(event)
    stopped_at = time.time()
    assert suite.stop("buffer") == 0, suite.tail()
    await asyncio.sleep(2.0)  # down longer than a GOP: a gap that makes it incomplete
    suite.start("buffer")
    clip = await wait_clip(suite, clip.id, FINISHED)
    # What the old ring held up to the stop is in the clip; the restart is a gap.
    assert clip.state == State.READY, f"{clip}\n{suite.tail()}"
    assert not clip.complete
    assert clip.gaps, clip
    first_gap = clip.gaps[0]
    # The stopping buffer drains ReadWindow for up to its grace before it exits.
    gap_start = timestamp_seconds(first_gap.start_time)
    assert stopped_at - 0.2 <= gap_start <= stopped_at + GRACE + 0.5
    assert timestamp_seconds(first_gap.end_time) >= stopped_at + 2.0
    assert clip.failure_reason.startswith("incomplete: ")
    assert timestamp_seconds(clip.media_start_time) <= event - PRE_ROLL + 0.01
    played = decoded_seconds(await download(suite, clip), tmp_path)
    missing = sum(
        timestamp_seconds(g.end_time) - timestamp_seconds(g.start_time) for g in clip.gaps
    )
    # The MP4 plays what was recorded, the gap left out: never more than that.
    window = PRE_ROLL + POST_ROLL
    assert played <= window - missing + 1.0 + 0.2  # + at most the snapped-back GOP


async def test_eventclip_run_interrupted_in_a_post_roll_resumes_honestly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    suite = Suite(write_config(tmp_path, ports), ports, grace=GRACE)
    suite.env["EVENTCLIP_LOG_FORMAT"] = "text"
    suite.start("all")
    try:
        await wait_serving(suite)
        await wait_buffered(suite, "cam", PRE_ROLL + 1)
        clip, event = await request_clip(suite)
        await stop_in_post_roll(event)
        stopped_at = time.time()
        assert suite.stop("all", sig=signal.SIGINT) == 0, suite.tail()
        assert f"resume at the next start: {clip.id}" in suite.logs["all"].read_text()
        await asyncio.sleep(2.0)  # down longer than a GOP: the gap makes it incomplete
        suite.start("all")
        await wait_serving(suite)
        clip = await wait_clip(suite, clip.id, FINISHED)
        # The event and the pre-roll were recorded before the stop: READY, but
        # the time eventclip was down (its buffer too) is a gap, said as such.
        assert clip.state == State.READY, f"{clip}\n{suite.tail()}"
        assert not clip.complete
        [gap] = clip.gaps
        assert stopped_at - 0.2 <= timestamp_seconds(gap.start_time) <= stopped_at + GRACE + 0.5
        assert "of the window is not on video" in clip.failure_reason
        media_start = timestamp_seconds(clip.media_start_time)
        assert media_start <= event - PRE_ROLL + 0.01
        assert media_start <= event <= timestamp_seconds(gap.start_time)
        await download(suite, clip)
    finally:
        suite.stop_all()
