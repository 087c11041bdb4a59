"""One ReadWindow stream per camera for all clip jobs whose windows overlap.

Ten alerts in a minute on one register ask for ten windows of one camera that
overlap by most of their length. Read alone, each job opens its own
``BufferService.ReadWindow`` and the buffer selects, serialises and sends the
same packets ten times, and the clipper parses (and holds) ten copies of them.
``SharedWindowReader.read`` has the interface and the semantics of
``WindowReader.read`` (so a job uses either), but the jobs of a camera are fed
from one stream.

Shared reads
------------
A *shared read* (``_SharedRead``) of a camera runs at most one upstream
ReadWindow at a time and keeps a *history*: the replies received so far, its
packets numbered in the order the buffer sent them (decode order). Every window
being read is a *subscriber* of one shared read. A new window joins a shared
read of its camera when

* the history holds the keyframe the buffer would start it on: its start is
  at or after the first keyframe still held (while nothing has been dropped:
  at or after the first upstream's start, since the buffer started there on
  the keyframe at or before it), and
* it overlaps what the read has delivered or will deliver: its start is at or
  before the newest packet held or the end of a window still being read.

Otherwise it opens a new shared read, which later windows can join in turn.
Windows the buffer would refuse (end not after start, or longer than
``max_window_seconds``) are passed to ``WindowReader`` unshared, so the
buffer's own error reaches the caller.

What each subscriber sees
-------------------------
The packets the buffer would have sent it alone (the tests check this, and the
resulting MP4 byte for byte): codec parameters first (again at each new
timeline), then packets from the last keyframe at or before its start (chosen
once a packet at or after the start has arrived, over GOP start times clamped
non-decreasing as ``PacketRing`` does) to the first packet whose decode wall
time (``wall_time - (pts - dts) x time_base``, as
``BufferedPacket.decode_wall_time``) is at or after its end; then the iterator
ends. Only the batching may differ: a batch that lies wholly inside the view is
handed over as the very reply object the buffer sent (shared and read-only:
jobs that keep packets keep one copy between them); a batch cut by the view's
first or last packet is copied (at most two per subscriber, <= 1 MiB each).
One limit: replies carry wall times rounded to the nanosecond, so a window
edge within a nanosecond of a packet's time may fall one packet apart from a
read alone.

Upstream ends and continuations
-------------------------------
A ReadWindow's end is fixed when it is opened. A read opens upstream with the
latest end among the subscribers that still need packets at that moment (at
most ``max_window_seconds`` after its start), so windows that join before the
first reply share one stream. A window that joins later with a later end is
served from the history and the open stream; when that stream ends, a
*continuation* ReadWindow is opened from the last keyframe held (the buffer
starts on the keyframe at or before it, so it overlaps by less than one GOP) to
the latest end then needed; packets already held are skipped by
(timeline, dts), and a codec message for a timeline already open is not
repeated. So a stream is added only when the one in use reaches its end while
later windows still wait: ten alerts in a minute with 30 s pre- and post-roll
take three streams (bench/shared_reads.py), not ten. Reopening at every join
with the largest end would take one stream per join again; reading on past
the ends known (say to ``max_window_seconds``) would follow live video nobody
asked for, and a past window would stream minutes too many.

Memory (the bound)
------------------
The history holds at most ``history_bytes`` (default 32 MiB, about a minute at
4 Mbps) plus what a subscriber still has to receive: older packets are kept
for windows that may join, and dropped in whole GOPs from the old end; the
newest GOP is always kept. The bound is checked when the last subscriber
leaves and at most once a second while reading (sizing a reply serialises it,
too dear for every reply of a 60 s window read in 0.1 s); what subscribers
have received, their jobs hold anyway (the same objects), so the history only
adds what it keeps after they finish. A window whose keyframe has been dropped
opens a shared read of its own (its job reads as if alone).

The upstream is read at most ``read_ahead_replies`` (8, <= 8 MiB) ahead of the
most advanced subscriber, as HTTP/2 flow control holds back a job reading
alone. It does not wait for slower ones, so one stuck job cannot hold up the
other clips of its camera; the history keeps their backlog (at most the
windows being read, which their jobs will hold anyway).

After the last subscriber leaves, the upstream is cancelled at once and the
history stays joinable for ``linger_seconds`` (5 s: the alerts of a burst of
POS events arrive within that), then it is dropped.

Errors and cancellation
-----------------------
An upstream failure reaches every subscriber that still needed packets, each
as its own exception of the type ``WindowReader`` raises (``FinalFailure``,
``grpc.aio.AioRpcError``); a subscriber whose last packet had already arrived
finishes normally. A later window does not join a failed read. A subscriber
that is cancelled or stops reading leaves; the others go on; the last one out
closes the upstream. Everything runs on the event loop: the upstream is read by
one task per shared read, subscribers wait on events, nothing polls.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import grpc
from opentelemetry import trace

from eventclip.clipper.window_reader import FinalFailure, WindowReader
from eventclip.media.timelines import StreamError
from eventclip.timeutil import timestamp_seconds, to_timestamp
from eventclip.v1 import buffer_pb2

log = logging.getLogger(__name__)

#: Bytes of history kept beyond what subscribers still need, for windows that join.
HISTORY_BYTES = 32 * 1024 * 1024
#: Most replies the upstream is read ahead of the most advanced subscriber
#: (the buffer's hold <= 1 MiB each; while following live, a packet or a few).
READ_AHEAD_REPLIES = 8
#: Seconds between checks of the history bound while a read runs. Sizing a
#: reply serialises it (~0.1 ms per MB), so it is not done for every reply.
TRIM_INTERVAL_SECONDS = 1.0
#: Seconds a read's history stays joinable after its last subscriber left.
LINGER_SECONDS = 5.0


def _epoch(value: datetime) -> float:
    """``value`` as the buffer reads it from a request: seconds since the epoch
    of the Timestamp that carries it."""
    return timestamp_seconds(to_timestamp(value))


def _format(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class _Batch:
    """One reply of packets in the history. Per packet, ``walls``: the
    wall-clock time of its pts, ``decode_walls``: of its dts (seconds since
    the epoch)."""

    reply: buffer_pb2.ReadWindowResponse
    timeline_id: int
    first_seq: int
    walls: list[float]
    decode_walls: list[float]
    _size: int | None = None

    @property
    def nbytes(self) -> int:
        """Serialised size of the reply (computed once, when first asked)."""
        if self._size is None:
            self._size = self.reply.ByteSize()
        return self._size

    @property
    def end_seq(self) -> int:
        return self.first_seq + len(self.walls)

    def stop(self, index: int, end: float) -> tuple[int, bool]:
        """Where a view ending at ``end`` stops, reading from ``index``:
        (index after its last packet here, whether that is the view's last)."""
        decode_walls = self.decode_walls
        for i in range(index, len(decode_walls)):
            if decode_walls[i] >= end:
                return i + 1, True
        return len(decode_walls), False

    def view(self, index: int, stop: int) -> buffer_pb2.ReadWindowResponse:
        """Packets [index, stop) as a reply: the buffer's own when that is all of it."""
        if index == 0 and stop == len(self.walls):
            return self.reply
        return buffer_pb2.ReadWindowResponse(
            packets=buffer_pb2.PacketBatch(packets=self.reply.packets.packets[index:stop])
        )

    def tail(self, index: int) -> _Batch:
        """This batch from packet ``index`` on (a copy of those packets)."""
        return _Batch(
            self.view(index, len(self.walls)),
            self.timeline_id,
            self.first_seq + index,
            self.walls[index:],
            self.decode_walls[index:],
        )


class _History:
    """What a shared read has received: codec replies by timeline and packet
    batches numbered by packet (the buffer's order, duplicates left out)."""

    def __init__(self) -> None:
        self.codecs: dict[int, buffer_pb2.ReadWindowResponse] = {}
        self._ranks: dict[int, int] = {}  # timelines in the order they arrived
        self._batches: list[_Batch] = []
        self._batch_starts: list[int] = []
        self.end_seq = 0
        #: (pts - dts, time_base) -> seconds, as BufferedPacket.decode_wall_time computes it.
        self._reorder_seconds: dict[tuple[int, Fraction], float] = {}
        self._keyframe_seqs: list[int] = []
        #: GOP start times clamped non-decreasing, as PacketRing bisects them.
        self._keyframe_starts: list[float] = []
        self.last_keyframe_wall = -math.inf
        self._last_key: tuple[int, int] | None = None  # (timeline rank, dts) of the newest packet
        self.newest_wall = -math.inf
        self.newest_decode_wall = -math.inf
        self.trimmed = False

    @property
    def has_keyframe(self) -> bool:
        return bool(self._keyframe_seqs)

    def add_codec(self, reply: buffer_pb2.ReadWindowResponse) -> None:
        """Take a codec reply; one for a timeline already held is dropped."""
        timeline = reply.codec.timeline_id
        if timeline not in self.codecs:
            self.codecs[timeline] = reply
            self._ranks[timeline] = len(self._ranks)

    def add_packets(self, reply: buffer_pb2.ReadWindowResponse, timeline_id: int) -> bool:
        """Append the packets of ``reply`` (of ``timeline_id``, whose codec reply
        came first) not held yet; True when there was any."""
        packets = reply.packets.packets
        rank = self._ranks[timeline_id]
        skip = 0
        if self._last_key is not None:
            last_rank, last_dts = self._last_key
            if rank < last_rank:
                return False
            if rank == last_rank:
                while skip < len(packets) and packets[skip].dts <= last_dts:
                    skip += 1
        if skip == len(packets):
            return False
        if skip:
            reply = buffer_pb2.ReadWindowResponse(
                packets=buffer_pb2.PacketBatch(packets=packets[skip:])
            )
            packets = reply.packets.packets
        codec = self.codecs[timeline_id].codec
        time_base = Fraction(codec.time_base_num or 1, codec.time_base_den or 1)
        reorder_seconds = self._reorder_seconds
        walls: list[float] = []
        decode_walls: list[float] = []
        seq = self.end_seq
        for packet in packets:
            ts = packet.wall_time
            wall = ts.seconds + ts.nanos / 1e9  # timestamp_seconds, inlined: once a packet
            walls.append(wall)
            reorder = packet.pts - packet.dts
            if reorder:
                key = (reorder, time_base)
                if (seconds := reorder_seconds.get(key)) is None:
                    seconds = reorder_seconds[key] = float(reorder * time_base)
                decode_walls.append(wall - seconds)
            else:
                decode_walls.append(wall)
            if packet.keyframe:
                starts = self._keyframe_starts
                self._keyframe_seqs.append(seq)
                starts.append(max(wall, starts[-1]) if starts else wall)
                self.last_keyframe_wall = wall
            seq += 1
        self._batches.append(_Batch(reply, timeline_id, self.end_seq, walls, decode_walls))
        self._batch_starts.append(self.end_seq)
        self.end_seq = seq
        self._last_key = (rank, packets[-1].dts)
        self.newest_wall = max(self.newest_wall, *walls)
        self.newest_decode_wall = max(self.newest_decode_wall, *decode_walls)
        return True

    def batch_at(self, seq: int) -> _Batch:
        """The batch holding packet ``seq`` (held: at or after the first kept)."""
        return self._batches[bisect.bisect_right(self._batch_starts, seq) - 1]

    def replies_from(self, seq: int) -> int:
        """Replies held from the one holding packet ``seq`` on."""
        if seq >= self.end_seq:
            return 0
        return len(self._batch_starts) - bisect.bisect_right(self._batch_starts, seq) + 1

    @property
    def first_seq(self) -> int:
        """Number of the oldest packet held."""
        return self._batches[0].first_seq if self._batches else self.end_seq

    def start_keyframe(self, start: float) -> tuple[int, float]:
        """(packet number, start time) of the keyframe a window starting at
        ``start`` starts on: the last at or before it, else the first held
        (PacketRing.find_start). Needs ``has_keyframe``."""
        index = max(bisect.bisect_right(self._keyframe_starts, start) - 1, 0)
        return self._keyframe_seqs[index], self._keyframe_starts[index]

    def floor(self, first_request_start: float) -> float:
        """The earliest window start served here exactly as the buffer would."""
        if not self._keyframe_starts:
            return first_request_start
        if not self.trimmed:
            return min(first_request_start, self._keyframe_starts[0])
        return self._keyframe_starts[0]

    def trim(self, keep_seq: int, max_bytes: int) -> None:
        """Drop whole GOPs from the old end until at most ``max_bytes`` are
        held (a reply cut by a GOP counted whole), but none from packet
        ``keep_seq`` on, nor the newest GOP."""
        batches = self._batches
        if not self._keyframe_seqs:
            return
        # The oldest reply from which on everything fits in max_bytes.
        fits, held = len(batches), 0
        while fits > 0 and held + batches[fits - 1].nbytes <= max_bytes:
            fits -= 1
            held += batches[fits].nbytes
        if fits == 0:
            return
        limit = min(keep_seq, self._keyframe_seqs[-1])
        allowed = self._keyframe_seqs[: bisect.bisect_right(self._keyframe_seqs, limit)]
        if not allowed:
            return
        from_seq = batches[fits].first_seq if fits < len(batches) else self.end_seq
        cut = allowed[min(bisect.bisect_left(allowed, from_seq), len(allowed) - 1)]
        if cut <= self.first_seq:
            return
        index = bisect.bisect_right(self._batch_starts, cut) - 1
        head = self._batches[index]
        del self._batches[:index]
        del self._batch_starts[:index]
        if cut > head.first_seq:
            self._batches[0] = head.tail(cut - head.first_seq)
            self._batch_starts[0] = cut
        dropped = bisect.bisect_left(self._keyframe_seqs, cut)
        del self._keyframe_seqs[:dropped]
        del self._keyframe_starts[:dropped]
        self.trimmed = True


@dataclass(eq=False, slots=True)
class _Subscriber:
    """One window being read: [start, end] in seconds since the epoch."""

    start: float
    end: float
    end_time: datetime
    next_seq: int | None = None  # None until its first packet is chosen
    timeline_id: int | None = None  # timeline of the last packet handed over
    done: bool = False


def _own_copy(err: BaseException) -> BaseException:
    """An upstream failure as a subscriber's own exception of the same type."""
    copy: BaseException
    if isinstance(err, FinalFailure):
        copy = FinalFailure(str(err), err.code)
    elif isinstance(err, grpc.aio.AioRpcError):
        copy = grpc.aio.AioRpcError(
            err.code(),
            err.initial_metadata(),
            err.trailing_metadata(),
            err.details(),
            err.debug_error_string(),
        )
    else:
        return err
    copy.__cause__ = err
    return copy


@dataclass(eq=False)
class _SharedRead:
    """The upstream ReadWindow(s) of one camera and the windows fed from them."""

    owner: SharedWindowReader
    camera_id: str
    first_start: datetime
    history: _History = field(default_factory=_History)
    subscribers: list[_Subscriber] = field(default_factory=list)
    error: BaseException | None = None
    upstreams: int = 0
    _pump: asyncio.Task[None] | None = None
    _linger: asyncio.TimerHandle | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _room: asyncio.Event = field(default_factory=asyncio.Event)

    # -- joining and leaving ---------------------------------------------------

    def can_serve(self, start: float) -> bool:
        """True when a window starting at ``start`` can join (see the module doc)."""
        if self.error is not None:
            return False
        reach = max([self.history.newest_wall, *(s.end for s in self.subscribers)])
        return self.history.floor(_epoch(self.first_start)) <= start <= reach

    def subscribe(self, start: float, end: float, end_time: datetime) -> _Subscriber:
        subscriber = _Subscriber(start, end, end_time)
        self.subscribers.append(subscriber)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self._ensure_pump()
        return subscriber

    def leave(self, subscriber: _Subscriber) -> None:
        """``subscriber`` stops reading; the last one out closes the upstream."""
        with contextlib.suppress(ValueError):
            self.subscribers.remove(subscriber)
        self._wake_pump()
        if self.subscribers:
            return
        if self._pump is not None:
            self._pump.cancel()
        if self.error is not None or not self.history.has_keyframe:
            self.close()
            return
        loop = asyncio.get_running_loop()
        loop.call_soon(self._trim)  # off the path of the job that left: it is finishing its clip
        self._linger = loop.call_later(self.owner.linger_seconds, self._expire)

    def _expire(self) -> None:
        self._linger = None
        if not self.subscribers:
            self.close()

    def close(self) -> None:
        """No window can join any more; the history goes with the last reference."""
        self.owner.forget(self)

    # -- what a subscriber is handed ---------------------------------------------

    def take(self, sub: _Subscriber) -> list[buffer_pb2.ReadWindowResponse]:
        """The next replies of ``sub``'s view ([] when it must wait, or is done).
        Raises the upstream's failure (its own copy) when ``sub`` needed more."""
        history = self.history
        if sub.done:
            return []
        if sub.next_seq is None:
            if not history.has_keyframe or history.newest_wall < sub.start:
                return self._nothing_yet()
            sub.next_seq, keyframe_start = history.start_keyframe(sub.start)
            if keyframe_start > sub.end:  # start was older than the ring, end too
                raise FinalFailure(
                    f"buffer ReadWindow: FAILED_PRECONDITION: camera {self.camera_id} "
                    f"buffers from {_format(keyframe_start)}; requested window ends "
                    f"{_format(sub.end)}",
                    grpc.StatusCode.FAILED_PRECONDITION,
                )
        if sub.next_seq >= history.end_seq:
            return self._nothing_yet()
        batch = history.batch_at(sub.next_seq)
        index = sub.next_seq - batch.first_seq
        stop, last = batch.stop(index, sub.end)
        replies = []
        if batch.timeline_id != sub.timeline_id:
            replies.append(history.codecs[batch.timeline_id])
            sub.timeline_id = batch.timeline_id
        replies.append(batch.view(index, stop))
        sub.next_seq = batch.first_seq + stop
        sub.done = last
        self._wake_pump()
        return replies

    def _nothing_yet(self) -> list[buffer_pb2.ReadWindowResponse]:
        if self.error is not None:
            raise _own_copy(self.error)
        self._ensure_pump()
        return []

    async def changed(self) -> None:
        """Wait until the history grows or the read fails."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _wake_pump(self) -> None:
        self._room.set()
        self._room = asyncio.Event()

    # -- the upstream --------------------------------------------------------------

    def _needs(self, sub: _Subscriber) -> bool:
        """True while packets ``sub`` needs have not arrived yet."""
        if sub.done:
            return False
        history = self.history
        return history.newest_decode_wall < sub.end or (
            sub.next_seq is not None and sub.next_seq >= history.end_seq
        )

    def _next_upstream(self) -> tuple[datetime, datetime] | None:
        """(start, end) of the ReadWindow to open now; None when none is needed."""
        needing = [s for s in self.subscribers if self._needs(s)]
        if not needing:
            return None
        end = max(s.end_time for s in needing)
        history = self.history
        if not history.has_keyframe:
            start = self.first_start
        else:
            # The buffer starts on the keyframe at or before this: the last one
            # held (a window must end after it starts, hence the min).
            start = datetime.fromtimestamp(
                min(history.last_keyframe_wall, _epoch(end) - 0.001), UTC
            )
        if self.owner.max_window is not None:
            end = min(end, start + self.owner.max_window)
        return start, end

    def _ensure_pump(self) -> None:
        """Start reading upstream when a subscriber needs packets and no read runs."""
        pump = self._pump
        if self.error is not None or not self.subscribers:
            return
        if pump is not None and not pump.done() and not pump.cancelling():
            return
        if self._next_upstream() is None:
            return
        self._pump = asyncio.create_task(self._run(pump), name=f"shared-read-{self.camera_id}")

    async def _run(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # a cancelled read still unwinding
        try:
            while (window := self._next_upstream()) is not None:
                await self._read_upstream(*window)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.info("shared ReadWindow of camera %s failed: %s", self.camera_id, err)
            self.error = err
            self.close()
            self._notify()

    async def _read_upstream(self, start: datetime, end: datetime) -> None:
        self.upstreams += 1
        log.debug(
            "camera %s: ReadWindow %s .. %s for %d window(s)%s",
            self.camera_id,
            start.isoformat(),
            end.isoformat(),
            len(self.subscribers),
            " (continuation)" if self.upstreams > 1 else "",
        )
        history = self.history
        timeline: int | None = None
        progressed = False
        loop = asyncio.get_running_loop()
        trim_due = loop.time() + TRIM_INTERVAL_SECONDS
        replies = self.owner.reader.read(self.camera_id, start, end)
        async with contextlib.aclosing(replies):
            async for reply in replies:
                if reply.HasField("codec"):
                    timeline = reply.codec.timeline_id
                    history.add_codec(reply)
                    continue
                if timeline is None:
                    raise StreamError("ReadWindow sent packets before the codec parameters")
                if not history.add_packets(reply, timeline):
                    continue
                progressed = True
                if (now := loop.time()) >= trim_due:
                    trim_due = now + TRIM_INTERVAL_SECONDS
                    self._trim()
                self._notify()
                if not any(self._needs(s) for s in self.subscribers):
                    return  # the window that needed the rest has left
                while self._read_ahead() > self.owner.read_ahead_replies:
                    await self._room.wait()
        if not progressed:
            raise StreamError(f"ReadWindow {start} .. {end} brought no new packet")

    def _read_ahead(self) -> int:
        """Replies held that even the most advanced subscriber has still to be
        handed (the others' backlog is held for them, never waited for)."""
        lags = [
            self.history.replies_from(s.next_seq)
            for s in self.subscribers
            if s.next_seq is not None and not s.done
        ]
        return min(lags, default=0)

    def _trim(self) -> None:
        history = self.history
        keep = history.end_seq
        for sub in self.subscribers:
            if sub.done:
                continue
            if sub.next_seq is not None:
                keep = min(keep, sub.next_seq)
            elif history.has_keyframe:
                keep = min(keep, history.start_keyframe(sub.start)[0])
        history.trim(keep, self.owner.history_bytes)


class SharedWindowReader:
    """Reads clip windows like ``WindowReader``, feeding every window of a
    camera that overlaps another from one upstream ReadWindow (see the module
    doc). ``reader`` opens the upstream reads; ``max_window_seconds``: the
    buffer's longest window (settings.clips.max_seconds), None when unknown;
    the bounds default to the module's constants."""

    def __init__(
        self,
        reader: WindowReader,
        *,
        max_window_seconds: float | None = None,
        history_bytes: int = HISTORY_BYTES,
        read_ahead_replies: int = READ_AHEAD_REPLIES,
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        self.reader = reader
        self.max_window = (
            timedelta(seconds=max_window_seconds) if max_window_seconds is not None else None
        )
        self.history_bytes = history_bytes
        self.read_ahead_replies = read_ahead_replies
        self.linger_seconds = linger_seconds
        self._reads: dict[str, list[_SharedRead]] = {}

    async def read(
        self, camera_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[buffer_pb2.ReadWindowResponse]:
        """Yield the ReadWindow replies of ``camera_id`` for [start, end] as
        they arrive (codec parameters, then packet batches; live until ``end``):
        the packets ``WindowReader.read`` yields, possibly batched otherwise.
        The replies may be shared with other jobs: do not modify them.

        Raises FinalFailure (FAILED_PRECONDITION, NOT_FOUND, INVALID_ARGUMENT
        from the buffer) and grpc.aio.AioRpcError for anything else.
        """
        if end <= start or (self.max_window is not None and end - start > self.max_window):
            async for reply in self.reader.read(camera_id, start, end):
                yield reply
            return
        shared, sub = self._subscribe(camera_id, _epoch(start), _epoch(end), start, end)
        try:
            while True:
                replies = shared.take(sub)
                for reply in replies:
                    yield reply
                if sub.done:
                    return
                if not replies:
                    await shared.changed()
        finally:
            shared.leave(sub)

    def _subscribe(
        self, camera_id: str, start: float, end: float, start_time: datetime, end_time: datetime
    ) -> tuple[_SharedRead, _Subscriber]:
        reads = self._reads.setdefault(camera_id, [])
        shared = next((r for r in reads if r.can_serve(start)), None)
        joined = shared is not None
        if shared is None:
            shared = _SharedRead(self, camera_id, start_time)
            reads.append(shared)
        trace.get_current_span().add_event(
            "eventclip.shared_read",
            {"eventclip.camera_id": camera_id, "eventclip.joined": joined},
        )
        if joined:
            log.debug(
                "camera %s: window %s .. %s joins a shared read of %d window(s)",
                camera_id,
                start_time.isoformat(),
                end_time.isoformat(),
                len(shared.subscribers),
            )
        return shared, shared.subscribe(start, end, end_time)

    def forget(self, shared: _SharedRead) -> None:
        """Stop offering ``shared`` to new windows."""
        reads = self._reads.get(shared.camera_id, [])
        if shared in reads:
            reads.remove(shared)
        if not reads:
            self._reads.pop(shared.camera_id, None)
