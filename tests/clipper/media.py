"""Real H.264 windows in the buffer's wire format, for the clipper tests.

Packets come from libx264 (``SyntheticEncoder``) or from demuxing the real
street recording, and are wrapped as ``eventclip.v1`` Packets with wall-clock
times, exactly what BufferService.ReadWindow sends.
"""

from __future__ import annotations

import io
from contextlib import closing
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av

from eventclip.buffer.synthetic import SyntheticEncoder, SyntheticSpec
from eventclip.clipper.commit import finish_clip, storage_keys
from eventclip.clipper.live import LiveRemux
from eventclip.clipper.models import READY, ClipRecord
from eventclip.clipper.sidecar import source_timelines, store_sidecar
from eventclip.clipper.storage import ClipStorage
from eventclip.clipper.store import ClipStore
from eventclip.media.timelines import Timeline
from eventclip.timeutil import to_timestamp, utcnow
from eventclip.v1 import buffer_pb2


def proto_packet(packet: av.Packet, time_base: Fraction, wall_zero: datetime) -> buffer_pb2.Packet:
    """``packet`` as a proto Packet; wall time = wall_zero + pts * time_base."""
    return buffer_pb2.Packet(
        data=bytes(packet),
        pts=packet.pts,
        dts=packet.dts,
        duration=packet.duration or 0,
        keyframe=packet.is_keyframe,
        wall_time=to_timestamp(wall_zero + timedelta(seconds=float(packet.pts * time_base))),
    )


def synthetic_timeline(
    spec: SyntheticSpec,
    frames: int,
    wall_zero: datetime,
    *,
    timeline_id: int = 1,
    first_pts: int = 0,
) -> Timeline:
    """``frames`` frames of ``spec`` encoded by libx264 (pts/dts = frame index +
    ``first_pts``, time_base 1/fps), first frame at ``wall_zero``."""
    encoder = SyntheticEncoder(spec)
    tb = encoder.time_base
    packets = []
    for packet in encoder.packets(frames):
        packet.pts += first_pts
        packet.dts += first_pts
        packets.append(
            proto_packet(packet, tb, wall_zero - timedelta(seconds=float(first_pts * tb)))
        )
    codec = buffer_pb2.CodecParameters(
        codec_name="h264",
        extradata=encoder.extradata,
        width=spec.width,
        height=spec.height,
        time_base_num=tb.numerator,
        time_base_den=tb.denominator,
        frame_rate_num=spec.fps,
        frame_rate_den=1,
        timeline_id=timeline_id,
        pix_fmt="yuv420p",
    )
    return Timeline(codec, packets)


def recording_timeline(path: Path, wall_zero: datetime) -> Timeline:
    """Every video packet of a recording (demuxed, not decoded) with its codec
    parameters; the packet at pts 0 is at ``wall_zero``."""
    with closing(av.open(str(path))) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        ctx = stream.codec_context
        codec = buffer_pb2.CodecParameters(
            codec_name=ctx.name,
            extradata=bytes(ctx.extradata or b""),
            width=ctx.width,
            height=ctx.height,
            time_base_num=tb.numerator,
            time_base_den=tb.denominator,
            frame_rate_num=stream.average_rate.numerator,
            frame_rate_den=stream.average_rate.denominator,
            timeline_id=1,
            pix_fmt=ctx.pix_fmt or "",
        )
        packets = [
            proto_packet(p, tb, wall_zero)
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]
    return Timeline(codec, packets)


def make_ready(
    store: ClipStore, storage: ClipStorage, clip_id: str, spec: SyntheticSpec, frames: int
) -> ClipRecord:
    """Turn clip ``clip_id`` into a READY clip of ``frames`` real frames of
    ``spec``, cut by the clip job's own LiveRemux, finish_clip and sidecar
    (files committed to ``storage``), its window moved to five minutes ago."""
    t0 = utcnow() - timedelta(minutes=5)
    timeline = synthetic_timeline(spec, frames, t0)
    seconds = frames / spec.fps
    record = store.update(
        clip_id,
        start_time=t0,
        end_time=t0 + timedelta(seconds=seconds),
        event_time=t0 + timedelta(seconds=seconds / 2),
    )
    remux = LiveRemux(
        storage.staging_path(storage_keys(record)[0]),
        start_time=record.start_time,
        event_time=record.event_time,
    )
    remux.feed(buffer_pb2.ReadWindowResponse(codec=timeline.codec))
    remux.feed(
        buffer_pb2.ReadWindowResponse(packets=buffer_pb2.PacketBatch(packets=timeline.packets))
    )
    values = finish_clip(record, remux, storage)
    sources = source_timelines(remux.timelines)
    values.update(store_sidecar(record.model_copy(update=values), sources, storage))
    return store.update(clip_id, state=READY, **values)


def mp4_samples(mp4: bytes | Path) -> tuple[list[tuple[float, float, float, bool, bytes]], float]:
    """What a player gets from an MP4 (FFmpeg's demuxer, edit list honoured):
    each sample's (pts, dts, duration) in seconds, keyframe flag and data, and
    the file's duration in seconds."""
    source = io.BytesIO(mp4) if isinstance(mp4, bytes) else str(mp4)
    with av.open(source) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        samples = [
            (
                float(p.pts * tb),
                float(p.dts * tb),
                float(p.duration * tb),
                p.is_keyframe,
                bytes(p),
            )
            for p in container.demux(stream)
            if p.size
        ]
        return samples, container.duration / av.time_base


def first_frames(mp4: bytes | Path, count: int = 3) -> list[tuple[float, bytes]]:
    """The first ``count`` frames a player shows: (time in seconds, gray pixels)."""
    source = io.BytesIO(mp4) if isinstance(mp4, bytes) else str(mp4)
    frames = []
    with av.open(source) as container:
        for frame in container.decode(video=0):
            frames.append((float(frame.time), frame.to_ndarray(format="gray").tobytes()))
            if len(frames) == count:
                break
    return frames
