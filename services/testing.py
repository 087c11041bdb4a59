"""What our own tests and benchmarks share, and a third party's may use:
real packets put into a buffer ring as a camera would deliver them, and
``RuleHarness``, which scores events with one rule plugin as the events
service does (options checked as at start-up, a real events store as the
history), so a plugin author tests a rule without running the suite."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import pluggy

from eventclip import PROJECT_NAME
from eventclip.buffer.bitstream import mp4_form
from eventclip.buffer.ring import BufferedPacket, CodecParams
from eventclip.events import hookspecs, messages
from eventclip.events.history import EventHistory
from eventclip.events.plugin_options import rule_options
from eventclip.events.plugins import PluginRunner
from eventclip.events.store import EventStore
from eventclip.events.types import PosEvent, RiskScore
from eventclip.media.timelines import Timeline
from eventclip.timeutil import utcnow


def ring_input(
    timeline: Timeline, first_wall: float, *, timeline_id: int = 1
) -> tuple[CodecParams, list[BufferedPacket]]:
    """``timeline`` as buffer ring entries of ``timeline_id`` whose first packet
    is at ``first_wall`` (epoch seconds): what an ingest thread would append
    (H.264 in the MP4 form, ``eventclip.buffer.bitstream``)."""
    codec = timeline.codec
    time_base = Fraction(codec.time_base_num, codec.time_base_den)
    params = CodecParams(
        codec_name=codec.codec_name,
        extradata=codec.extradata,
        width=codec.width,
        height=codec.height,
        time_base=time_base,
        frame_rate=Fraction(codec.frame_rate_num, codec.frame_rate_den),
        pix_fmt=codec.pix_fmt,
        timeline_id=timeline_id,
    )
    params, to_mp4_form = mp4_form(params)
    base = timeline.packets[0].pts
    packets = [
        BufferedPacket(
            data=to_mp4_form(p.data),
            pts=p.pts,
            dts=p.dts,
            duration=p.duration,
            keyframe=p.keyframe,
            wall_time=first_wall + float((p.pts - base) * time_base),
            timeline_id=timeline_id,
        )
        for p in timeline.packets
    ]
    return params, packets


class RuleHarness:
    """One rule plugin (a module or object with ``score_event`` and, if it
    has options, ``rule_options``) scoring events as the events service
    would. ``options``: what ``rules: <name>:`` would hold, validated as at
    start-up (ConfigError naming the key when refused). The history is a
    real events store: SQLite in a temporary directory unless
    ``database_url`` is given. Use as a context manager (or call close)::

        with RuleHarness(my_rule, {"max_count": 3}) as harness:
            harness.add(earlier_refund_1, earlier_refund_2)
            assert harness.score(refund) is not None
    """

    def __init__(
        self,
        plugin: object,
        options: Mapping[str, Any] | None = None,
        *,
        name: str = "rule_under_test",
        database_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self.options = rule_options(self.pm, {name: dict(options or {})})[name]
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if database_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="eventclip-rule-")
            database_url = f"sqlite:///{Path(self._tmp.name) / 'events.db'}"
        self.store = EventStore.open(database_url)
        self.runner = PluginRunner(self.pm, timeout)

    def add(self, *events: PosEvent) -> None:
        """Store ``events`` as history (as if submitted earlier)."""
        for event in events:
            message = messages.from_plugin_event(event)
            self.store.claim(messages.to_record(message, utcnow()))

    def score(self, event: PosEvent) -> RiskScore | None:
        """The rule's RiskScore for ``event`` (None: it does not apply).
        Raises AssertionError when the rule raised, timed out or returned
        something else (the service would log it and go on)."""
        outcome = asyncio.run(
            self.runner.score_event(
                event, lambda _name: self.options, EventHistory(self.store, event)
            )
        )
        assert not outcome.failures, outcome.failures
        return outcome.scores[0][1] if outcome.scores else None

    def close(self) -> None:
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> RuleHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
