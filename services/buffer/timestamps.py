"""Demuxed packets with complete timestamps: the ones FFmpeg leaves out at the
start of an RTSP connection are recovered instead of dropping the first GOP.

What FFmpeg's RTSP demuxer gives for the first packets after a connect
(gst-rtsp-server serving the street recording: H.264 High, B-frames, reorder
depth 2, 25 fps, time_base 1/90000, so one frame is 3600 ticks)::

    packet  keyframe   pts     dts
    0       yes        None    None
    1       no         14400   None
    2       no          7200   None
    3       no          3600   3600
    4       no         10800   7200    ... every later packet has both

The keyframe comes out of the H.264 parser without the RTP timestamp, and
libavformat makes a missing dts from pts (``compute_pkt_fields`` →
``select_from_pts_buffer`` in libavformat/demux.c): a packet's dts is the
smallest of the last ``reorder_depth + 1`` pts, so the first ``reorder_depth``
packets that carry a pts get no dts yet.

Recovery (``complete_timestamps``), for a run of packets that opens with a
keyframe and ends at the first packet with a dts ``D``:

- **dts**: in decode order each packet is one frame, one frame duration after
  the previous one (constant frame rate, the assumption FFmpeg's own dts
  derivation makes), so the packet ``k`` places before is ``D - k x duration``.
- **keyframe pts**: the same ``select_from_pts_buffer`` rule read backwards. A
  keyframe that opens a closed GOP is presented first, so it is the smallest of
  its own pts and those of the next ``reorder_depth`` packets, which is the dts
  FFmpeg gives the packet ``reorder_depth`` places after it:
  ``pts = dts + reorder_depth x duration``. Without B-frames (reorder depth 0)
  that is ``pts == dts``: decode order is presentation order.

A recovered run must be consistent: every pts at or after its dts, and the
frame presented right after the keyframe (pts + one frame) among the packets of
the run, since a decoder holding back ``reorder_depth`` frames must have decoded
it by then. Otherwise, or when the frame duration
is unknown, the run is dropped up to the next keyframe as before, since nothing
in it could be decoded or placed in time. A packet missing a timestamp in the
middle of a GOP is dropped with the rest of its GOP.

With the numbers above: dts 3600 - 3 x 3600 = -7200 for the keyframe and
pts -7200 + 2 x 3600 = 0, the pts FFmpeg's RTP demuxer gives the first frame of
a connection (rtpdec.c counts pts from the first RTP timestamp).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av

log = logging.getLogger(__name__)

#: Longest run of packets without a dts worth holding back: FFmpeg's
#: MAX_REORDER_DELAY (16) plus the keyframe.
MAX_HELD_PACKETS = 17


@dataclass(frozen=True, slots=True)
class DemuxedPacket:
    """``bytes(av.Packet)`` and its timestamps in the stream's time_base.

    ``arrival``: time.time() when the demuxer handed the packet over (before
    any holding back), seconds since the epoch.
    """

    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool
    arrival: float


@dataclass(frozen=True, slots=True)
class _Read:
    """A packet as demuxed, timestamps possibly missing."""

    data: bytes
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    arrival: float


def complete_timestamps(
    packets: Iterable[av.Packet],
    *,
    reorder_depth: int,
    frame_duration: int | None,
    label: str = "",
) -> Iterator[DemuxedPacket]:
    """The non-empty packets of ``packets`` (decode order) with pts and dts,
    recovering what the demuxer left out after a keyframe (module docstring).

    ``reorder_depth``: frames the decoder holds back for reordering (FFmpeg's
    ``has_b_frames``, PyAV's ``codec_context.reorder_depth``; 0 without
    B-frames). ``frame_duration``: one frame in time_base units, used when a
    packet carries no duration; None when unknown. ``label`` names the source
    in log lines (a redacted URL).
    """
    held: list[_Read] = []
    broken = False
    for packet in packets:
        if packet.size == 0:  # the demuxer's final flush packet
            continue
        read = _Read(
            bytes(packet),
            packet.pts,
            packet.dts,
            packet.duration or 0,
            packet.is_keyframe,
            time.time(),
        )
        if read.dts is None:
            if read.keyframe:
                if held:
                    log.warning(
                        "%s: dropped %d packets: no dts after their keyframe", label, len(held)
                    )
                held, broken = [read], False
            elif held and len(held) < MAX_HELD_PACKETS:
                held.append(read)
            else:
                if held:
                    log.warning(
                        "%s: dropped %d packets: no dts after their keyframe", label, len(held)
                    )
                held, broken = [], True
            continue
        if held:
            held.append(read)
            recovered = _recover(held, reorder_depth, frame_duration, label)
            held = []
            broken = recovered is None
            if recovered is not None:
                yield from recovered
            continue
        pts = read.pts
        if pts is None:
            if reorder_depth:
                broken = True
                continue
            pts = read.dts  # no reordering: presented in decode order
        if broken and not read.keyframe:
            continue
        broken = False
        yield _with(read, pts=pts, dts=read.dts)


def _recover(
    run: list[_Read], reorder_depth: int, frame_duration: int | None, label: str
) -> list[DemuxedPacket] | None:
    """``run``: a keyframe, packets without dts, and last the first packet with
    one. The run with every timestamp filled in, or None when it cannot be."""
    duration = next((p.duration for p in run if p.duration > 0), frame_duration)
    last_dts = run[-1].dts
    assert last_dts is not None
    if not duration:
        log.warning("%s: dropped a GOP's first %d packets: no frame duration", label, len(run))
        return None
    out: list[DemuxedPacket] = []
    for index, read in enumerate(run):
        dts = last_dts - (len(run) - 1 - index) * duration
        pts = read.pts
        if pts is None:
            if index == 0:
                pts = dts + reorder_depth * duration
            elif reorder_depth == 0:
                pts = dts
            else:
                log.warning("%s: dropped a GOP: a frame after its keyframe has no pts", label)
                return None
        out.append(_with(read, pts=pts, dts=dts))
    key = out[0]
    # The frame presented right after the keyframe is decoded within the next
    # reorder_depth + 1 frames (else the decoder could not output it in time),
    # so it is in the run: its pts must be the keyframe's plus one frame.
    if any(p.pts < p.dts for p in out) or min(p.pts for p in out[1:]) != key.pts + duration:
        log.warning(
            "%s: dropped a GOP: recovered keyframe pts %d / dts %d do not fit the packets "
            "after it (reorder depth %d, frame duration %d)",
            label,
            key.pts,
            key.dts,
            reorder_depth,
            duration,
        )
        return None
    return out


def _with(read: _Read, *, pts: int | None, dts: int | None) -> DemuxedPacket:
    assert pts is not None and dts is not None
    return DemuxedPacket(read.data, pts, dts, read.duration, read.keyframe, read.arrival)
