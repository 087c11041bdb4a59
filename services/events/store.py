"""Database access of the events service: the idempotency ledger and alerts.

Methods are synchronous (SQLAlchemy sessions); the service calls them through
``asyncio.to_thread`` so the event loop never blocks on the database. Every write
is safe to repeat or to race: uniqueness (event_id, alert per event) is left to
the database, and clip columns are updated with a revision check.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from eventclip.db import create_db_engine, upgrade
from eventclip.events.models import AlertRecord, PosEventRecord
from eventclip.pagination import PageCursor, newest_first

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class EventStore:
    """pos_events and alerts on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time and its busy handler waits by sleeping
        # (up to 100 ms a try): queueing our own writers on a lock instead keeps
        # the tail latency at the commit time. PostgreSQL locks rows itself.
        self._writing: contextlib.AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @classmethod
    def open(cls, url: str) -> EventStore:
        """Connect to ``url`` and bring the events tables to the newest migration."""
        engine = create_db_engine(url)
        upgrade(engine, MIGRATIONS_DIR, "events")
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        # Rows stay readable after commit: they are handed back to the event loop.
        return Session(self.engine, expire_on_commit=False)

    # -- the idempotency ledger -------------------------------------------------

    def claim(self, record: PosEventRecord) -> PosEventRecord | None:
        """Insert ``record`` as the claim on its event_id. None when this call
        claimed it; otherwise the earlier claim (whose fingerprint and response
        tell a retry from a conflicting event)."""
        # Core INSERT: this is on every event's path, the ORM unit of work is not needed.
        row = record.model_dump()
        for _ in range(3):
            try:
                with self._writing, self.engine.begin() as connection:
                    connection.execute(insert(PosEventRecord), [row])
                return None
            except IntegrityError:
                existing = self.get_event(record.event_id)
                if existing is not None:
                    return existing
                # The other claim was rolled back between our INSERT and SELECT: retry.
                error = sys.exc_info()[1]
        raise RuntimeError(f"cannot claim event_id {record.event_id}") from error

    def get_event(self, event_id: str) -> PosEventRecord | None:
        with self._session() as session:
            return session.get(PosEventRecord, event_id)

    def complete(self, event_id: str, response: bytes) -> bytes:
        """Store ``response`` as the event's first response unless one is stored
        already; return the one that is stored (first writer wins)."""
        with self._writing, self.engine.begin() as connection:
            result = connection.execute(
                update(PosEventRecord)
                .where(
                    col(PosEventRecord.event_id) == event_id,
                    col(PosEventRecord.response).is_(None),
                )
                .values(response=response)
            )
        if result.rowcount == 1:
            return response
        stored = self.get_event(event_id)
        assert stored is not None and stored.response is not None
        return stored.response

    # -- history, for rules with context ----------------------------------------

    def recent_events(
        self,
        types: Sequence[str],
        column: str,
        value: str,
        since: datetime,
        until: datetime,
        exclude_event_id: str,
        limit: int,
    ) -> list[PosEventRecord]:
        """Events of ``types`` whose ``column`` (operator_id, register_id or
        store_id) is ``value``, occurred in [since, until], newest first, at
        most ``limit``; ``exclude_event_id`` left out (the event being scored).
        Served by the (column, occurred_at) indexes."""
        field = col(getattr(PosEventRecord, column))
        query = (
            select(PosEventRecord)
            .where(
                field == value,
                col(PosEventRecord.type).in_(list(types)),
                col(PosEventRecord.occurred_at) >= since,
                col(PosEventRecord.occurred_at) <= until,
                col(PosEventRecord.event_id) != exclude_event_id,
            )
            .order_by(col(PosEventRecord.occurred_at).desc())
            .limit(limit)
        )
        with self._session() as session:
            return list(session.exec(query))

    def transaction_events(
        self, store_id: str, transaction_id: str, exclude_event_id: str, limit: int
    ) -> list[PosEventRecord]:
        """Events of one POS transaction of a store, oldest first (at most
        ``limit``); ``exclude_event_id`` left out. Served by the
        (store_id, transaction_id) index."""
        query = (
            select(PosEventRecord)
            .where(
                col(PosEventRecord.store_id) == store_id,
                col(PosEventRecord.transaction_id) == transaction_id,
                col(PosEventRecord.event_id) != exclude_event_id,
            )
            .order_by(col(PosEventRecord.occurred_at))
            .limit(limit)
        )
        with self._session() as session:
            return list(session.exec(query))

    # -- alerts -------------------------------------------------------------------

    def create_alert(self, alert: AlertRecord) -> AlertRecord:
        """Insert ``alert``, or return the alert its event already has (one per event)."""
        try:
            with self._writing, self._session() as session, session.begin():
                session.add(alert)
            return alert
        except IntegrityError:
            existing = self.alert_for_event(alert.event_id)
            if existing is None:
                raise
            return existing

    def alert_for_event(self, event_id: str) -> AlertRecord | None:
        with self._session() as session:
            return session.exec(select(AlertRecord).where(AlertRecord.event_id == event_id)).first()

    def get_alert(self, alert_id: str) -> tuple[AlertRecord, PosEventRecord] | None:
        """The alert and the event that raised it, or None."""
        with self._session() as session:
            return session.exec(
                select(AlertRecord, PosEventRecord)
                .join(PosEventRecord, col(AlertRecord.event_id) == col(PosEventRecord.event_id))
                .where(AlertRecord.id == alert_id)
            ).first()

    def detections_since(self, since: datetime) -> list[tuple[PosEventRecord, str | None]]:
        """DETECTION events that began at or after ``since`` (UTC), oldest
        first, each with the id of the alert it raised (None: it raised none),
        to rebuild the open incidents after a restart."""
        with self._session() as session:
            rows = session.exec(
                select(PosEventRecord, AlertRecord.id)
                .join(
                    AlertRecord,
                    col(AlertRecord.event_id) == col(PosEventRecord.event_id),
                    isouter=True,
                )
                .where(col(PosEventRecord.type) == "DETECTION")
                .where(col(PosEventRecord.occurred_at) >= since)
                .order_by(col(PosEventRecord.occurred_at))
            ).all()
        return [(event, alert_id) for event, alert_id in rows]

    def list_alerts(
        self,
        limit: int,
        after: PageCursor | None = None,
        store_id: str = "",
        register_id: str = "",
    ) -> list[tuple[AlertRecord, PosEventRecord]]:
        """Up to ``limit`` alerts newest first (create_time, then id, descending),
        strictly after ``after``, filtered by store/register when those are set."""
        query = select(AlertRecord, PosEventRecord).join(
            PosEventRecord, col(AlertRecord.event_id) == col(PosEventRecord.event_id)
        )
        if store_id:
            query = query.where(AlertRecord.store_id == store_id)
        if register_id:
            query = query.where(AlertRecord.register_id == register_id)
        query = newest_first(query, AlertRecord, after)
        with self._session() as session:
            return list(session.exec(query.limit(limit)).all())

    def alerts_with_pending_clips(self, limit: int = 100) -> list[AlertRecord]:
        """Alerts that still wait for CreateClip on some camera, oldest first."""
        with self._session() as session:
            return list(
                session.exec(
                    select(AlertRecord)
                    .where(col(AlertRecord.clips_pending).is_(True))
                    .order_by(col(AlertRecord.create_time))
                    .limit(limit)
                ).all()
            )

    def record_clips(
        self, alert_id: str, clips: Mapping[str, str], given_up: Sequence[str] = ()
    ) -> AlertRecord:
        """Add ``clips`` ({camera_id: clip_id}) to the alert and take those cameras
        and the ``given_up`` ones off its pending list. Concurrent callers (the
        request path and the background retry) are serialized by a revision check."""
        while True:
            with self._writing, self._session() as session, session.begin():
                alert = session.get(AlertRecord, alert_id)
                if alert is None:
                    raise LookupError(f"alert {alert_id} does not exist")
                # Keep the register's camera order, whatever order the clips came back in.
                new_ids = [clips[c] for c in alert.pending_cameras if c in clips]
                pending = [c for c in alert.pending_cameras if c not in clips and c not in given_up]
                if not new_ids and pending == alert.pending_cameras:
                    return alert
                result = session.execute(
                    update(AlertRecord)
                    .where(
                        col(AlertRecord.id) == alert_id,
                        col(AlertRecord.revision) == alert.revision,
                    )
                    .values(
                        clip_ids=alert.clip_ids + [i for i in new_ids if i not in alert.clip_ids],
                        pending_cameras=pending,
                        clips_pending=bool(pending),
                        revision=alert.revision + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                updated = result.rowcount == 1  # type: ignore[attr-defined]
            if updated:
                with self._session() as session:
                    fresh = session.get(AlertRecord, alert_id)
                assert fresh is not None
                return fresh
            log.debug("alert %s changed concurrently; retrying the clip update", alert_id)
