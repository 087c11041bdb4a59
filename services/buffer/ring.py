"""The per-camera ring of encoded video: packets grouped by GOP, stamped with
wall-clock time, bounded by seconds and bytes.

Nothing here decodes: a packet is the demuxer's bytes plus its timestamps, so
memory stays near bitrate x window. Whole GOPs (a keyframe and the packets that
follow it in decode order) are dropped from the old end, so whatever the ring
holds can be decoded from its first packet. The newest GOP is bounded by bytes
too: past the bound the rest of it is dropped (its head stays decodable) until
the next keyframe, so a camera that stops sending keyframes cannot grow it
without end.

Window lookup bisects over GOP start times; packets are addressed by a sequence
number that keeps counting as old GOPs leave, so a reader following the live
edge holds a cursor that stays valid (or is reported as evicted).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

from eventclip.errors import FailedPrecondition, Unavailable
from eventclip.timeutil import format_time

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CodecParams:
    """What a muxer needs to write a timeline without probing it.

    ``time_base``: unit of the timeline's pts/dts/duration in seconds.
    ``frame_rate``: nominal frames per second, None when unknown.
    ``extradata``: avcC/hvcC or Annex B SPS/PPS, may be empty (in-band).
    """

    codec_name: str
    extradata: bytes
    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    pix_fmt: str
    timeline_id: int


@dataclass(frozen=True, slots=True)
class BufferedPacket:
    """One demuxed packet, as held in the ring.

    ``pts``/``dts``/``duration`` are in the timeline's ``time_base``;
    ``wall_time`` is the UTC time of ``pts`` in seconds since the Unix epoch
    (see eventclip.buffer.wallclock).
    """

    data: bytes
    pts: int
    dts: int
    duration: int
    keyframe: bool
    wall_time: float
    timeline_id: int

    def decode_wall_time(self, time_base: Fraction) -> float:
        """Wall-clock time of the packet's dts (seconds since the epoch).

        Packets are held in decode order, so "the first packet at or after
        end" is judged on dts: every frame shown before ``end`` precedes it.
        """
        return self.wall_time - float((self.pts - self.dts) * time_base)


@dataclass(slots=True)
class Gop:
    """A keyframe and the packets that follow it (decode order), one timeline."""

    first_seq: int
    timeline_id: int
    packets: list[BufferedPacket]
    nbytes: int
    #: Packets of this GOP refused because it reached the ring's GOP byte bound.
    dropped_packets: int = 0
    dropped_bytes: int = 0
    #: Wall time of the first packet refused, None while the GOP is whole.
    truncated_at: float | None = None

    @property
    def start_time(self) -> float:
        return self.packets[0].wall_time


@dataclass(frozen=True, slots=True)
class RingStats:
    """Status of a ring for the Camera message. Times are seconds since the
    epoch (None when empty); ``fps`` and ``bitrate_bps`` are averages over
    what the ring holds (0 when it holds less than two packets).

    ``dropped_packets``/``dropped_bytes``: refused since the ring was made
    because their GOP had reached ``max_gop_bytes``. ``truncated_at``: wall
    time of the first packet refused from the newest GOP, None when the newest
    GOP is whole (nothing is being dropped now).
    """

    buffered_bytes: int
    gop_count: int
    packet_count: int
    oldest_time: float | None
    newest_time: float | None
    fps: float
    bitrate_bps: int
    dropped_packets: int = 0
    dropped_bytes: int = 0
    truncated_at: float | None = None

    @property
    def buffered_seconds(self) -> float:
        if self.oldest_time is None or self.newest_time is None:
            return 0.0
        return self.newest_time - self.oldest_time


class PacketRing:
    """Encoded packets of one camera, bounded by ``max_seconds`` and ``max_bytes``.

    Bounds: the oldest GOP is dropped when the ring still spans at least
    ``max_seconds`` without it (so a full ring always covers ``max_seconds``,
    at most one GOP more), or while the ring holds more than ``max_bytes``.
    The newest GOP is never dropped; instead it holds at most
    ``max_gop_bytes`` (default ``max_bytes // 2``): once the next packet would
    take it over, that packet and every later one up to the next keyframe are
    refused (counted in ``stats()``, logged with ``name``). What is kept of the
    GOP still decodes from its keyframe; the refused span is a gap a reader
    sees as missing timestamps. With ``max_gop_bytes <= max_bytes`` the ring
    never holds more than ``max_bytes`` plus one packet.

    Not thread-safe: owned by the asyncio loop; ingest threads hand packets over
    with ``loop.call_soon_threadsafe(ring.append, ...)``.
    """

    def __init__(
        self,
        max_seconds: float,
        max_bytes: int,
        max_gop_bytes: int | None = None,
        *,
        name: str = "",
    ) -> None:
        if max_gop_bytes is None:
            max_gop_bytes = max(max_bytes // 2, 1)
        if max_seconds <= 0 or max_bytes <= 0 or max_gop_bytes <= 0:
            raise ValueError("ring bounds must be positive")
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.max_gop_bytes = max_gop_bytes
        #: Who the ring buffers (a camera id), for log lines.
        self.name = name
        self._dropped_packets = 0
        self._dropped_bytes = 0
        self._gops: deque[Gop] = deque()
        #: Start time of each GOP, clamped non-decreasing so it can be bisected
        #: even when a new timeline's clock starts a little behind the old one.
        self._starts: deque[float] = deque()
        self._codecs: dict[int, CodecParams] = {}
        self._next_seq = 0
        self._nbytes = 0
        self._npackets = 0
        self._waiters: list[asyncio.Future[None]] = []

    # -- ingest -----------------------------------------------------------

    def append(self, packet: BufferedPacket, codec: CodecParams) -> bool:
        """Add one packet (decode order) of the timeline described by ``codec``.

        A keyframe starts a new GOP. A packet that is not a keyframe is dropped
        (returns False) when no GOP of its timeline is open (a reader could not
        decode it), or when its GOP reached ``max_gop_bytes`` (see the class).
        Wakes readers waiting in ``wait_for``.
        """
        if codec.timeline_id != packet.timeline_id:
            raise ValueError("packet and codec parameters belong to different timelines")
        last = self._gops[-1] if self._gops else None
        if packet.keyframe:
            if last is not None and last.truncated_at is not None:
                self._log_truncation_end(last, packet)
            start = (
                packet.wall_time if not self._starts else max(packet.wall_time, self._starts[-1])
            )
            last = Gop(self._next_seq, packet.timeline_id, [], 0)
            self._gops.append(last)
            self._starts.append(start)
            self._codecs.setdefault(packet.timeline_id, codec)
        elif last is None or last.timeline_id != packet.timeline_id:
            return False
        elif last.truncated_at is not None or last.nbytes + len(packet.data) > self.max_gop_bytes:
            self._refuse(last, packet)
            return False
        last.packets.append(packet)
        last.nbytes += len(packet.data)
        self._nbytes += len(packet.data)
        self._npackets += 1
        self._next_seq += 1
        self._evict()
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()
        return True

    def _refuse(self, gop: Gop, packet: BufferedPacket) -> None:
        if gop.truncated_at is None:
            gop.truncated_at = packet.wall_time
            log.warning(
                "camera %s: GOP started at %s reached %d bytes (bound %d) without a new "
                "keyframe; dropping its packets until the next keyframe",
                self.name,
                format_time(gop.start_time),
                gop.nbytes,
                self.max_gop_bytes,
            )
        gop.dropped_packets += 1
        gop.dropped_bytes += len(packet.data)
        self._dropped_packets += 1
        self._dropped_bytes += len(packet.data)

    def _log_truncation_end(self, gop: Gop, keyframe: BufferedPacket) -> None:
        assert gop.truncated_at is not None
        log.warning(
            "camera %s: keyframe at %s after dropping %d packets (%d bytes) of the GOP "
            "started at %s: %s..%s is missing",
            self.name,
            format_time(keyframe.wall_time),
            gop.dropped_packets,
            gop.dropped_bytes,
            format_time(gop.start_time),
            format_time(gop.truncated_at),
            format_time(keyframe.wall_time),
        )

    def _evict(self) -> None:
        gops = self._gops
        while len(gops) > 1 and (
            self._nbytes > self.max_bytes
            or gops[-1].packets[-1].wall_time - self._starts[1] >= self.max_seconds
        ):
            old = gops.popleft()
            self._starts.popleft()
            self._nbytes -= old.nbytes
            self._npackets -= len(old.packets)
            if gops[0].timeline_id != old.timeline_id:
                self._codecs.pop(old.timeline_id, None)

    # -- reading ------------------------------------------------------------

    @property
    def first_seq(self) -> int:
        """Sequence number of the oldest packet held."""
        return self._gops[0].first_seq if self._gops else self._next_seq

    @property
    def next_seq(self) -> int:
        """Sequence number the next appended packet will get."""
        return self._next_seq

    def __len__(self) -> int:
        return self._npackets

    def codec(self, timeline_id: int) -> CodecParams:
        """Codec parameters of a timeline still held in the ring (KeyError if not)."""
        return self._codecs[timeline_id]

    @property
    def current_codec(self) -> CodecParams | None:
        """Codec parameters of the newest timeline, None when empty."""
        return self._codecs.get(self._gops[-1].timeline_id) if self._gops else None

    def newest_keyframe(self) -> tuple[int, BufferedPacket] | None:
        """The sequence number and packet of the newest GOP's keyframe (what a
        snapshot shows, where sampling starts), None when empty."""
        if not self._gops:
            return None
        gop = self._gops[-1]
        return gop.first_seq, gop.packets[0]

    def timeline_codecs(self) -> dict[int, CodecParams]:
        """Codec parameters of every timeline held now, by timeline id (a copy:
        a reader keeps it while the ring moves on)."""
        return dict(self._codecs)

    def find_start(self, start: float) -> int:
        """Sequence number of the keyframe to serve a window starting at
        ``start`` (seconds since the epoch): the last keyframe at or before
        ``start``, or the oldest keyframe when ``start`` is older than the ring.
        O(log GOPs). Raises Unavailable when the ring is empty.
        """
        if not self._gops:
            raise Unavailable("nothing is buffered")
        index = bisect.bisect_right(self._starts, start) - 1
        return self._gops[max(index, 0)].first_seq

    def read(self, seq: int, limit: int | None = None) -> list[BufferedPacket]:
        """Packets from sequence number ``seq`` on (at most ``limit``), as held
        now; [] when ``seq`` is the live edge. Raises FailedPrecondition when
        ``seq`` has been evicted (the reader fell more than a ring behind)."""
        if seq < self.first_seq:
            raise FailedPrecondition(
                "the requested packets left the buffer while being read "
                f"(packet {seq}, oldest held {self.first_seq})"
            )
        out: list[BufferedPacket] = []
        if seq >= self._next_seq:
            return out
        gops = self._gops
        first_seqs = _FirstSeqView(gops)
        index = bisect.bisect_right(first_seqs, seq) - 1
        offset = seq - gops[index].first_seq
        for gop in itertools.islice(gops, index, None):
            chunk = gop.packets[offset:] if offset else gop.packets
            offset = 0
            if limit is not None and len(out) + len(chunk) >= limit:
                out.extend(chunk[: limit - len(out)])
                break
            out.extend(chunk)
        return out

    def window(self, start: float, end: float) -> list[BufferedPacket]:
        """The packets of [start, end] held now: from the keyframe at or before
        ``start`` to the first packet whose dts is at or after ``end`` (or the
        newest packet when ``end`` is beyond the live edge). Bisects GOP start
        times, then scans one GOP. Raises Unavailable when empty."""
        first = self.find_start(start)
        end_index = bisect.bisect_left(self._starts, end)
        # The first packet at/after `end` is in the GOP before the first GOP
        # starting at/after `end`, or is that GOP's keyframe.
        gop_index = max(end_index - 1, 0)
        last = self._next_seq - 1
        for index in range(gop_index, min(end_index + 1, len(self._gops))):
            gop = self._gops[index]
            time_base = self._codecs[gop.timeline_id].time_base
            hit = next(
                (i for i, p in enumerate(gop.packets) if p.decode_wall_time(time_base) >= end),
                None,
            )
            if hit is not None:
                last = gop.first_seq + hit
                break
        return self.read(first, limit=last - first + 1)

    async def wait_for(self, seq: int) -> None:
        """Wait until packet ``seq`` exists (wrap in asyncio.timeout to bound it)."""
        while self._next_seq <= seq:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def stats(self) -> RingStats:
        """Bytes, GOPs, oldest/newest packet time and fps/bitrate measured over
        the ring: fps = (packets - 1) / span, bitrate = bytes x 8 x fps / packets."""
        dropped = (self._dropped_packets, self._dropped_bytes)
        if not self._gops:
            return RingStats(0, 0, 0, None, None, 0.0, 0, *dropped)
        oldest = self._gops[0].start_time
        newest = max(oldest, self._gops[-1].packets[-1].wall_time)
        span = newest - oldest
        n = self._npackets
        fps = (n - 1) / span if span > 0 and n > 1 else 0.0
        bitrate = round(self._nbytes * 8 * fps / n) if fps else 0
        return RingStats(
            self._nbytes,
            len(self._gops),
            n,
            oldest,
            newest,
            fps,
            bitrate,
            *dropped,
            self._gops[-1].truncated_at,
        )


class _FirstSeqView:
    """A read-only sequence of GOP first_seq values, for bisect."""

    __slots__ = ("_gops",)

    def __init__(self, gops: deque[Gop]) -> None:
        self._gops = gops

    def __len__(self) -> int:
        return len(self._gops)

    def __getitem__(self, index: int) -> int:
        return self._gops[index].first_seq
