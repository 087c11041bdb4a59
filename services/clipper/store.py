"""Database access of the clipper: the ``clips`` table.

Methods are synchronous (SQLAlchemy sessions); the service and the job runner
call them through ``asyncio.to_thread`` so the event loop never blocks on the
database. Idempotency is left to the database's unique constraints (see
``eventclip.clipper.models``), so two racing CreateClip calls still make one clip.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from eventclip.clipper.models import UNFINISHED_STATES, ClipRecord
from eventclip.db import create_db_engine, upgrade
from eventclip.pagination import PageCursor, newest_first
from eventclip.timeutil import as_utc, utcnow

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_DATETIME_FIELDS = (
    "start_time",
    "end_time",
    "event_time",
    "media_start_time",
    "media_end_time",
    "next_attempt_at",
    "create_time",
    "update_time",
)


def new_clip_id(now: datetime | None = None) -> str:
    """A 20-character id that sorts by creation time: 12 hex digits of
    milliseconds since the Unix epoch, then 8 random hex digits."""
    ms = int((now or utcnow()).timestamp() * 1000)
    return f"{ms:012x}{os.urandom(4).hex()}"


def _utc_fields(record: ClipRecord | None) -> ClipRecord | None:
    # SQLite returns naive datetimes: they are UTC.
    if record is not None:
        for name in _DATETIME_FIELDS:
            value = getattr(record, name)
            if value is not None and value.tzinfo is None:
                setattr(record, name, as_utc(value))
    return record


class ClipStore:
    """The clips table on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> ClipStore:
        """Connect to ``url`` and bring the clipper's tables to the newest migration."""
        engine = create_db_engine(url)
        upgrade(engine, MIGRATIONS_DIR, "clipper")
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        # Rows stay readable after commit: they are handed back to the event loop.
        return Session(self.engine, expire_on_commit=False)

    def create(self, record: ClipRecord) -> tuple[ClipRecord, bool]:
        """Insert ``record``; (record, True). When a clip with the same request_id,
        or the same (alert_id, camera_id), exists: (that clip, False)."""
        try:
            with self._session() as session:
                session.add(record)
                session.commit()
                return _utc_fields(record), True  # type: ignore[return-value]
        except IntegrityError:
            existing = self.find_duplicate(record)
            if existing is None:
                raise
            return existing, False

    def find_duplicate(self, record: ClipRecord) -> ClipRecord | None:
        """The clip ``record`` would duplicate (same request_id, else same
        alert_id and camera_id), or None."""
        with self._session() as session:
            if record.request_id is not None:
                query = select(ClipRecord).where(ClipRecord.request_id == record.request_id)
                found = session.exec(query).first()
                if found is not None:
                    return _utc_fields(found)
            if record.alert_id is not None:
                query = select(ClipRecord).where(
                    ClipRecord.alert_id == record.alert_id,
                    ClipRecord.camera_id == record.camera_id,
                )
                return _utc_fields(session.exec(query).first())
        return None

    def get(self, clip_id: str) -> ClipRecord | None:
        with self._session() as session:
            return _utc_fields(session.get(ClipRecord, clip_id))

    def list_clips(
        self,
        limit: int,
        after: PageCursor | None = None,
        *,
        camera_id: str = "",
        event_id: str = "",
        alert_id: str = "",
    ) -> list[ClipRecord]:
        """Up to ``limit`` clips newest first (create_time, then id, descending),
        strictly after ``after``, filtered by the ids that are set."""
        query = select(ClipRecord)
        if camera_id:
            query = query.where(ClipRecord.camera_id == camera_id)
        if event_id:
            query = query.where(ClipRecord.event_id == event_id)
        if alert_id:
            query = query.where(ClipRecord.alert_id == alert_id)
        query = newest_first(query, ClipRecord, after)
        with self._session() as session:
            return [_utc_fields(r) for r in session.exec(query.limit(limit)).all()]  # type: ignore[misc]

    def unfinished(self) -> list[ClipRecord]:
        """Clips still PENDING or RECORDING, the earliest due first."""
        query = (
            select(ClipRecord)
            .where(col(ClipRecord.state).in_(UNFINISHED_STATES))
            .order_by(col(ClipRecord.next_attempt_at), col(ClipRecord.id))
        )
        with self._session() as session:
            return [_utc_fields(r) for r in session.exec(query).all()]  # type: ignore[misc]

    def update(self, clip_id: str, **values: Any) -> ClipRecord:
        """Set ``values`` on clip ``clip_id`` (and update_time); the updated row.
        KeyError when the clip does not exist."""
        with self._session() as session:
            record = session.get(ClipRecord, clip_id)
            if record is None:
                raise KeyError(clip_id)
            for name, value in values.items():
                setattr(record, name, value)
            record.update_time = utcnow()
            session.add(record)
            session.commit()
            return _utc_fields(record)  # type: ignore[return-value]
