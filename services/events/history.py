"""The rule context: the event history a rule asks about the event it scores
(``eventclip.events.types.RuleContext``), answered from the events store."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from eventclip.events import messages
from eventclip.events.store import EventStore
from eventclip.events.types import By, PosEvent

#: The most events one question returns (counts and totals stop there too).
MAX_EVENTS = 10_000
_COLUMNS = {"operator": "operator_id", "register": "register_id", "store": "store_id"}


class EventHistory:
    """A RuleContext for one event, on ``store``. Raises ValueError for a bad
    ``by``, a negative window or limit."""

    def __init__(self, store: EventStore, event: PosEvent) -> None:
        self.store = store
        self.event = event

    def events(
        self, types: Iterable[str], *, by: By, within_seconds: float, limit: int = 100
    ) -> tuple[PosEvent, ...]:
        column = _COLUMNS.get(by)
        if column is None:
            raise ValueError(f"by must be one of {', '.join(_COLUMNS)}, not {by!r}")
        if within_seconds < 0 or not 0 <= limit <= MAX_EVENTS:
            raise ValueError(
                f"within_seconds must be >= 0 and limit in [0, {MAX_EVENTS}], "
                f"got {within_seconds!r} and {limit!r}"
            )
        value = getattr(self.event, column)
        if not value:
            return ()
        until = self.event.occurred_at
        rows = self.store.recent_events(
            list(types),
            column,
            value,
            until - timedelta(seconds=within_seconds),
            until,
            self.event.event_id,
            limit,
        )
        return tuple(_plugin_event(row) for row in rows)

    def count(self, types: Iterable[str], *, by: By, within_seconds: float) -> int:
        return len(self.events(types, by=by, within_seconds=within_seconds, limit=MAX_EVENTS))

    def total(self, types: Iterable[str], *, by: By, within_seconds: float) -> Decimal:
        found = self.events(types, by=by, within_seconds=within_seconds, limit=MAX_EVENTS)
        return sum((e.amount for e in found if e.amount is not None), Decimal(0))

    def transaction(self) -> tuple[PosEvent, ...]:
        return self._transaction(self.event.transaction_id)

    def original_transaction(self) -> tuple[PosEvent, ...]:
        return self._transaction(self.event.original_transaction_id)

    def _transaction(self, transaction_id: str) -> tuple[PosEvent, ...]:
        if not transaction_id:
            return ()
        rows = self.store.transaction_events(
            self.event.store_id, transaction_id, self.event.event_id, MAX_EVENTS
        )
        return tuple(_plugin_event(row) for row in rows)


def _plugin_event(row: object) -> PosEvent:
    return messages.to_plugin_event(messages.event_message(row))  # type: ignore[arg-type]
