"""Tables owned by the events service (migrations in ``migrations/versions``).

``pos_events`` is the idempotency ledger as well as the event log: a row is the
claim on an ``event_id`` (inserted first), ``fingerprint`` tells a retry from a
different event reusing the id, and ``response`` holds the serialized first
SubmitEventResponse once it is complete (NULL while the first attempt runs, or
after it crashed midway). Money is stored as google.type.Money's integer parts,
never as a float.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, ForeignKey, Index, LargeBinary, String
from sqlmodel import Field, MetaData, SQLModel


class EventsTable(SQLModel):
    """Base of this service's tables: their own MetaData, apart from other services'."""

    metadata = MetaData()


#: The tables this service's migrations create (env.py's target_metadata).
metadata = EventsTable.metadata


def _utc_column(*, index: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=index))


class PosEventRecord(EventsTable, table=True):
    __tablename__ = "pos_events"
    # Rules with context (eventclip.events.history) ask by these (migration 0005).
    __table_args__ = (
        Index("ix_pos_events_operator_time", "operator_id", "occurred_at"),
        Index("ix_pos_events_register_time", "register_id", "occurred_at"),
        Index("ix_pos_events_store_time", "store_id", "occurred_at"),
        Index("ix_pos_events_transaction", "store_id", "transaction_id"),
    )

    event_id: str = Field(primary_key=True, max_length=128)
    #: PosEvent.Type name, e.g. "REFUND".
    type: str = Field(max_length=32)
    store_id: str = Field(max_length=128)
    register_id: str = Field(max_length=128)
    operator_id: str = Field(default="", max_length=128)
    approver_id: str = Field(default="", max_length=128)
    transaction_id: str = Field(default="", max_length=128)
    #: google.type.Money parts; all three NULL when the event had no amount.
    amount_units: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    amount_nanos: int | None = Field(default=None)
    currency_code: str | None = Field(default=None, max_length=3)
    occurred_at: datetime = _utc_column()
    attributes: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: DETECTION events: the Detection as proto3 JSON (camera, label, confidence, box, detector).
    detection: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    customer_id: str = Field(default="", max_length=128)
    #: REFUND: the sale refunded ("" when none was given).
    original_transaction_id: str = Field(default="", max_length=128)
    #: The receipt as proto3 JSON: ``lines``, ``tender``, ``sentAt`` (NULL: none sent).
    receipt: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: SHA-256 (hex) of the event as sent, deterministically serialized.
    fingerprint: str = Field(max_length=64)
    #: Serialized SubmitEventResponse (replayed=false) once the first attempt completed.
    response: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    create_time: datetime = _utc_column()


class AlertRecord(EventsTable, table=True):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_create_time_id", "create_time", "id"),)

    id: str = Field(primary_key=True, max_length=32)
    #: Unique: one alert per event, however often the event is retried.
    event_id: str = Field(
        sa_column=Column(
            String(128), ForeignKey("pos_events.event_id"), nullable=False, unique=True
        )
    )
    store_id: str = Field(max_length=128, index=True)
    register_id: str = Field(max_length=128, index=True)
    risk_score: float
    #: [{"rule", "score", "reason"}] of the rules that scored above 0.
    reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    #: Clips the clipper accepted, in the register's camera order.
    clip_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Cameras whose CreateClip has not succeeded yet (retried in the background).
    pending_cameras: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: True while pending_cameras is not empty (a portable, indexable flag).
    clips_pending: bool = Field(default=False, index=True)
    #: Why cameras of the register get no clip (Alert.no_clip_reason).
    no_clip_reason: str = Field(default="", max_length=4096)
    #: Pre-roll of its clips, seconds; None: clips.pre_roll_seconds (Alert.pre_roll).
    pre_roll_seconds: float | None = Field(default=None)
    #: Bumped on every update (optimistic concurrency for the clip columns).
    revision: int = 0
    occurred_at: datetime = _utc_column()
    create_time: datetime = _utc_column()
