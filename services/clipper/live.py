"""Remuxing a clip while its window arrives from the buffer."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from eventclip.media.mp4 import IncompatibleTimeline, Mp4Writer, RemuxResult, remux_to_mp4
from eventclip.media.timelines import Timeline, TimelineCollector
from eventclip.v1 import buffer_pb2


class LiveRemux:
    """Remuxes a ReadWindow reply stream while it arrives (``feed`` each reply,
    then ``finish``), so that when the post-roll is buffered only its last
    packets and the MP4 trailer are left to write.

    ``exact_start``: hide the frames before ``start_time`` with an MP4 edit
    list (``eventclip.media.mp4``, "Where the clip starts").
    ``timelines`` keeps every packet fed (the thumbnail is made from them). When
    the codec parameters change inside the window the incremental file is
    dropped and ``finish`` falls back to ``remux_to_mp4``, which keeps the
    timelines around the event. Blocking (FFmpeg): call from a worker thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start_time: datetime | None = None,
        event_time: datetime | None = None,
        exact_start: bool = False,
    ) -> None:
        self.path = Path(path)
        self.start_time = start_time
        self.event_time = event_time
        self.exact_start = exact_start
        self._collector = TimelineCollector()
        self._writer: Mp4Writer | None = Mp4Writer(
            self.path,
            start_time.timestamp() if start_time is not None else None,
            exact_start=exact_start,
        )

    @property
    def timelines(self) -> list[Timeline]:
        """Every packet fed so far, by timeline."""
        return self._collector.timelines

    @property
    def packet_count(self) -> int:
        """Packets fed so far."""
        return sum(len(t.packets) for t in self.timelines)

    @property
    def has_packets(self) -> bool:
        return any(t.packets for t in self.timelines)

    def feed(self, response: buffer_pb2.ReadWindowResponse) -> None:
        """Take one ReadWindow reply. Raises StreamError for a broken stream,
        RemuxError for an FFmpeg failure."""
        added = self._collector.add(response)
        if self._writer is None:
            return
        if added is None:
            try:
                self._writer.open_timeline(self.timelines[-1].codec)
            except IncompatibleTimeline:
                self.abort()
        else:
            self._writer.add_packets(added)

    def finish(self) -> RemuxResult:
        """Complete the MP4 at ``path``. Raises RemuxError (no file is left)."""
        if self._writer is None:
            return remux_to_mp4(
                self.timelines,
                self.path,
                start_time=self.start_time,
                event_time=self.event_time,
                exact_start=self.exact_start,
            )
        writer, self._writer = self._writer, None
        return writer.close()

    def abort(self) -> None:
        """Drop the incremental file (``finish`` then remuxes from ``timelines``)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
