"""Database access of the clipper: the ``clips`` and ``clip_audit`` tables.

Methods are synchronous (SQLAlchemy sessions); the service and the job runner
call them through ``asyncio.to_thread`` so the event loop never blocks on the
database. Idempotency is left to the database's unique constraints (see
``eventclip.clipper.models``), so two racing CreateClip calls still make one clip.

Every change of a clip's state writes its audit entry (``eventclip.clipper.audit``)
in the same transaction as the change, so whoever moves a clip (the job, an API
call, retention) cannot leave the trail behind. Writes load the clip row under
a lock (``SELECT ... FOR UPDATE`` on PostgreSQL; one writer at a time in this
process on SQLite), so two appends never take the same sequence and a state is
changed only from the state it was read in.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from eventclip.actor import SYSTEM
from eventclip.clipper import audit
from eventclip.clipper.models import (
    CANCELLED,
    DELETED,
    FAILED,
    READY,
    RECORDING,
    UNFINISHED_STATES,
    AuditRecord,
    ClipRecord,
)
from eventclip.config import RetentionConfig
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
    "expire_time",
    "delete_time",
    "create_time",
    "update_time",
)


def new_clip_id(now: datetime | None = None) -> str:
    """A 20-character id that sorts by creation time: 12 hex digits of
    milliseconds since the Unix epoch, then 8 random hex digits."""
    ms = int((now or utcnow()).timestamp() * 1000)
    return f"{ms:012x}{os.urandom(4).hex()}"


#: States nothing may move a clip out of (the sweeper only forgets file keys).
CLOSED_STATES = (CANCELLED, DELETED)
#: States in which a clip may hold media (and so expire).
FINISHED_WITH_MEDIA = (READY, FAILED)
DEFAULT_MAX_AGE_SECONDS = RetentionConfig().clip_max_age_seconds


class ClipClosed(Exception):
    """The clip is CANCELLED or DELETED: its row no longer changes."""


class StateConflict(Exception):
    """The clip is not in a state the change allows; ``record`` is the clip as it is."""

    def __init__(self, record: ClipRecord, message: str) -> None:
        super().__init__(message)
        self.record = record


def _utc_entry(entry: AuditRecord) -> AuditRecord:
    entry.time = as_utc(entry.time)
    return entry


def _utc_fields(record: ClipRecord | None) -> ClipRecord | None:
    # SQLite returns naive datetimes: they are UTC.
    if record is not None:
        for name in _DATETIME_FIELDS:
            value = getattr(record, name)
            if value is not None and value.tzinfo is None:
                setattr(record, name, as_utc(value))
    return record


class ClipStore:
    """The clipper's tables on one SQLAlchemy engine (SQLite or PostgreSQL).

    ``clip_max_age_seconds``: retention; a clip that finishes with media gets
    ``expire_time`` = that moment + this many seconds.
    """

    def __init__(
        self, engine: Engine, *, clip_max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS
    ) -> None:
        self.engine = engine
        self.max_age = timedelta(seconds=clip_max_age_seconds)
        self._write_lock = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @classmethod
    def open(cls, url: str, *, clip_max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> ClipStore:
        """Connect to ``url`` and bring the clipper's tables to the newest migration."""
        engine = create_db_engine(url)
        upgrade(engine, MIGRATIONS_DIR, "clipper")
        return cls(engine, clip_max_age_seconds=clip_max_age_seconds)

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        # Rows stay readable after commit: they are handed back to the event loop.
        return Session(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write_lock, self._session() as session:
            yield session

    @staticmethod
    def _locked(session: Session, clip_id: str) -> ClipRecord:
        """The clip row, locked until the transaction ends. KeyError when absent."""
        record = session.get(ClipRecord, clip_id, with_for_update=True)
        if record is None:
            raise KeyError(clip_id)
        return _utc_fields(record)  # type: ignore[return-value]

    def create(self, record: ClipRecord, *, actor: str = SYSTEM) -> tuple[ClipRecord, bool]:
        """Insert ``record`` with its "created" audit entry by ``actor``;
        (record, True). When a clip with the same request_id, or the same
        (alert_id, camera_id), exists: (that clip, False)."""
        try:
            with self._writing() as session:
                session.add(record)
                session.flush()  # the row exists before its first entry refers to it
                audit.append(
                    session,
                    record,
                    audit.CREATED,
                    actor,
                    audit.created_detail(record),
                    record.create_time,
                )
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

    def give_back_interrupted_attempts(self) -> list[str]:
        """After a crash: the attempt of every RECORDING clip was cut short by it,
        not failed; give it back (attempts - 1), as a clean stop does. Returns
        the clips' ids."""
        with self._writing() as session:
            query = select(ClipRecord).where(col(ClipRecord.state) == RECORDING)
            records = list(session.exec(query).all())
            for record in records:
                record.attempts = max(0, record.attempts - 1)
                session.add(record)
            session.commit()
            return [r.id for r in records]

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

        A change of ``state`` (or a new attempt while RECORDING) writes its audit
        entry by "system" in the same transaction; a clip that finishes with
        media (READY, or FAILED with a video) gets its ``expire_time``. Raises
        KeyError when the clip does not exist, ClipClosed when it is CANCELLED or
        DELETED (e.g. a job racing a cancel: the cancel stands).
        """
        with self._writing() as session:
            record = self._locked(session, clip_id)
            if record.state in CLOSED_STATES:
                raise ClipClosed(f"clip {clip_id} is {record.state}; it no longer changes")
            state, attempts = record.state, record.attempts
            for name, value in values.items():
                setattr(record, name, value)
            now = utcnow()
            record.update_time = now
            # A stop gives an attempt back (attempts - 1): not a new attempt.
            if record.state != state or (record.state == RECORDING and record.attempts > attempts):
                self._entered_state(session, record, SYSTEM, audit.transition_detail(record), now)
            session.add(record)
            session.commit()
            return _utc_fields(record)  # type: ignore[return-value]

    def _entered_state(
        self, session: Session, record: ClipRecord, actor: str, detail: str, now: datetime
    ) -> None:
        if record.state in FINISHED_WITH_MEDIA and record.video_key and record.expire_time is None:
            record.expire_time = now + self.max_age
        audit.append(session, record, audit.STATE_ACTIONS[record.state], actor, detail, now)

    def transition(
        self,
        clip_id: str,
        state: str,
        *,
        allowed_from: Collection[str],
        actor: str,
        detail: str,
        **values: Any,
    ) -> ClipRecord:
        """Move clip ``clip_id`` to ``state`` (setting ``values``) only from one of
        ``allowed_from``, with its audit entry by ``actor`` saying ``detail``.
        Raises KeyError, StateConflict (the clip is in another state)."""
        with self._writing() as session:
            record = self._locked(session, clip_id)
            if record.state not in allowed_from:
                raise StateConflict(record, f"clip {clip_id} is {record.state}")
            record.state = state
            for name, value in values.items():
                setattr(record, name, value)
            now = utcnow()
            record.update_time = now
            self._entered_state(session, record, actor, detail, now)
            session.commit()
            return _utc_fields(record)  # type: ignore[return-value]

    def set_legal_hold(
        self, clip_id: str, held: bool, *, actor: str, reason: str
    ) -> tuple[ClipRecord, bool]:
        """Put clip ``clip_id`` under legal hold (``held``) or release it, with a
        "held"/"released" audit entry by ``actor`` giving ``reason``; (clip,
        changed). A clip already so is returned unchanged, without an entry.
        Raises KeyError, StateConflict (holding a DELETED or CANCELLED clip)."""
        with self._writing() as session:
            record = self._locked(session, clip_id)
            if record.legal_hold == held:
                return record, False
            if held and record.state in CLOSED_STATES:
                raise StateConflict(
                    record, f"clip {clip_id} is {record.state}: there is no media to hold"
                )
            record.legal_hold = held
            now = utcnow()
            record.update_time = now
            action = audit.HELD if held else audit.RELEASED
            audit.append(session, record, action, actor, reason or "no reason given", now)
            session.commit()
            return _utc_fields(record), True  # type: ignore[return-value]

    def record_access(self, clip_id: str, action: str, actor: str, detail: str) -> AuditRecord:
        """Append an audit entry that changes nothing else (viewed, downloaded,
        exported). Raises KeyError."""
        with self._writing() as session:
            record = self._locked(session, clip_id)
            entry = audit.append(session, record, action, actor, detail, utcnow())
            session.commit()
            return _utc_entry(entry)

    def audit_trail(
        self, clip_id: str, *, after_sequence: int = 0, limit: int | None = None
    ) -> list[AuditRecord]:
        """The clip's audit entries oldest first, from ``after_sequence + 1``."""
        query = (
            select(AuditRecord)
            .where(AuditRecord.clip_id == clip_id, col(AuditRecord.sequence) > after_sequence)
            .order_by(col(AuditRecord.sequence))
        )
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            return [_utc_entry(e) for e in session.exec(query).all()]

    def expired(self, now: datetime, limit: int = 100) -> list[ClipRecord]:
        """Up to ``limit`` clips whose media retention deletes at ``now``: READY or
        FAILED, ``expire_time`` at or before ``now``, not under legal hold;
        the longest expired first."""
        query = (
            select(ClipRecord)
            .where(
                col(ClipRecord.state).in_(FINISHED_WITH_MEDIA),
                col(ClipRecord.expire_time) <= now,
                col(ClipRecord.legal_hold).is_(False),
            )
            .order_by(col(ClipRecord.expire_time), col(ClipRecord.id))
            .limit(limit)
        )
        with self._session() as session:
            return [_utc_fields(r) for r in session.exec(query).all()]  # type: ignore[misc]

    def deleted_with_files(self, limit: int = 100) -> list[ClipRecord]:
        """DELETED or CANCELLED clips that still name a stored file (a process
        stopped between the state change and removing the files)."""
        query = (
            select(ClipRecord)
            .where(
                col(ClipRecord.state).in_(CLOSED_STATES),
                or_(
                    col(ClipRecord.video_key).is_not(None),
                    col(ClipRecord.thumbnail_key).is_not(None),
                    col(ClipRecord.metadata_key).is_not(None),
                ),
            )
            .limit(limit)
        )
        with self._session() as session:
            return [_utc_fields(r) for r in session.exec(query).all()]  # type: ignore[misc]

    def mark_deleted(self, clip_id: str, now: datetime, detail: str) -> ClipRecord | None:
        """Make an expired clip DELETED (delete_time ``now``, "deleted" entry by
        "system" saying ``detail``) if, under the row lock, it still is READY or
        FAILED, past its expire_time and not held; else None. Its storage keys
        stay until the files are gone (``forget_files``)."""
        with self._writing() as session:
            record = self._locked(session, clip_id)
            if (
                record.state not in FINISHED_WITH_MEDIA
                or record.legal_hold
                or record.expire_time is None
                or record.expire_time > now
            ):
                return None
            record.state, record.delete_time, record.update_time = DELETED, now, now
            audit.append(session, record, audit.STATE_ACTIONS[DELETED], SYSTEM, detail, now)
            session.commit()
            return _utc_fields(record)

    def forget_files(self, clip_id: str) -> ClipRecord:
        """Clear the storage keys of a DELETED or CANCELLED clip once its files are
        gone (sizes and hashes stay: they say what was there). Raises KeyError."""
        with self._writing() as session:
            record = self._locked(session, clip_id)
            if record.state not in CLOSED_STATES:
                raise StateConflict(record, f"clip {clip_id} is {record.state}")
            record.video_key = record.thumbnail_key = record.metadata_key = None
            session.add(record)
            session.commit()
            return _utc_fields(record)  # type: ignore[return-value]
