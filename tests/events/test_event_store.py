"""The events tables on SQLite and PostgreSQL: migrations, the idempotency ledger,
one alert per event, concurrent clip updates and newest-first keyset paging."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from alembic import command
from alembic.config import Config
from sqlmodel import Session

from eventclip.db import create_db_engine
from eventclip.events.models import AlertRecord, PosEventRecord
from eventclip.events.store import MIGRATIONS_DIR, EventStore
from eventclip.pagination import PageCursor
from eventclip.timeutil import as_utc

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    store = EventStore.open(database_url)
    try:
        yield store
    finally:
        store.close()


def event_row(event_id: str, fingerprint: str = "f" * 64, **fields) -> PosEventRecord:
    values = dict(
        event_id=event_id,
        type="REFUND",
        store_id="s1",
        register_id="demo",
        amount_units=9_223_372_036_854_775_807,  # int64 max survives (BIGINT)
        amount_nanos=999_999_999,
        currency_code="USD",
        occurred_at=T0,
        attributes={"lane": "3"},
        fingerprint=fingerprint,
        create_time=T0,
    )
    values.update(fields)
    return PosEventRecord(**values)


def alert_row(event_id: str, create_time: datetime = T0, **fields) -> AlertRecord:
    values = dict(
        id=uuid.uuid4().hex,
        event_id=event_id,
        store_id="s1",
        register_id="demo",
        risk_score=0.5,
        reasons=[{"rule": "r", "score": 0.5, "reason": "why"}],
        clip_ids=[],
        pending_cameras=["cam-a", "cam-b"],
        clips_pending=True,
        occurred_at=T0,
        create_time=create_time,
    )
    values.update(fields)
    return AlertRecord(**values)


def test_migration_creates_the_tables_and_is_repeatable(database_url: str) -> None:
    EventStore.open(database_url).close()
    store = EventStore.open(database_url)  # second upgrade: already at head
    try:
        names = set(sqlalchemy.inspect(store.engine).get_table_names())
        assert {"pos_events", "alerts", "alembic_version_events"} <= names
        with store.engine.connect() as conn:
            version = conn.execute(
                sqlalchemy.text("SELECT version_num FROM alembic_version_events")
            )
            assert version.scalar() == "0006"
    finally:
        store.close()


def test_alerts_stored_before_no_clip_reason_read_back_with_none(database_url: str) -> None:
    """Upgrading from 0001 keeps every alert and gives it an empty reason."""
    engine = create_db_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["version_table"] = "alembic_version_events"
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with Session(engine) as session:
        event = event_row("old-1")
        # The 0001 tables, as the models described them then.
        later = {"detection", "customer_id", "original_transaction_id", "receipt"}
        event_columns = [c._copy() for c in PosEventRecord.__table__.c if c.name not in later]
        events_0001 = sqlalchemy.Table("pos_events", sqlalchemy.MetaData(), *event_columns)
        session.execute(sqlalchemy.insert(events_0001).values(**event.model_dump(exclude=later)))
        later_alert = {"no_clip_reason", "pre_roll_seconds"}
        old = alert_row("old-1").model_dump(exclude=later_alert)
        columns = [c._copy() for c in AlertRecord.__table__.c if c.name not in later_alert]
        alerts_0001 = sqlalchemy.Table("alerts", sqlalchemy.MetaData(), *columns)
        session.execute(sqlalchemy.insert(alerts_0001).values(**old))
        session.commit()
    engine.dispose()
    store = EventStore.open(database_url)
    try:
        found = store.get_alert(old["id"])
        assert found is not None
        alert, _event = found
        assert alert.no_clip_reason == "" and alert.pending_cameras == ["cam-a", "cam-b"]
    finally:
        store.close()


def test_claim_is_exclusive_and_money_round_trips(store: EventStore) -> None:
    assert store.claim(event_row("e1")) is None
    earlier = store.claim(event_row("e1", fingerprint="0" * 64))
    assert earlier is not None and earlier.fingerprint == "f" * 64
    stored = store.get_event("e1")
    assert stored is not None
    assert (stored.amount_units, stored.amount_nanos) == (9_223_372_036_854_775_807, 999_999_999)
    assert stored.attributes == {"lane": "3"}
    assert stored.response is None


def test_first_stored_response_wins(store: EventStore) -> None:
    store.claim(event_row("e1"))
    assert store.complete("e1", b"first") == b"first"
    assert store.complete("e1", b"second") == b"first"


def test_concurrent_claims_have_one_winner(store: EventStore) -> None:
    outcomes: list[PosEventRecord | None] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        outcomes.append(store.claim(event_row("race")))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for o in outcomes if o is None) == 1
    assert all(o.event_id == "race" for o in outcomes if o is not None)


def test_one_alert_per_event(store: EventStore) -> None:
    store.claim(event_row("e1"))
    first = store.create_alert(alert_row("e1"))
    second = store.create_alert(alert_row("e1", risk_score=0.9))
    assert second.id == first.id and second.risk_score == 0.5


def test_clip_ids_recorded_in_camera_order_and_concurrently(store: EventStore) -> None:
    store.claim(event_row("e1"))
    alert = store.create_alert(alert_row("e1", pending_cameras=[f"cam-{i}" for i in range(6)]))
    barrier = threading.Barrier(6)

    def record(i: int) -> None:
        barrier.wait()
        store.record_clips(alert.id, {f"cam-{i}": f"clip-{i}"})

    threads = [threading.Thread(target=record, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found = store.get_alert(alert.id)
    assert found is not None
    updated = found[0]
    assert sorted(updated.clip_ids) == [f"clip-{i}" for i in range(6)]  # none lost
    assert updated.pending_cameras == [] and not updated.clips_pending
    assert store.alerts_with_pending_clips() == []


def test_given_up_cameras_leave_the_pending_list(store: EventStore) -> None:
    store.claim(event_row("e1"))
    alert = store.create_alert(alert_row("e1"))
    updated = store.record_clips(alert.id, {"cam-b": "clip-b"}, given_up=[])
    assert (updated.clip_ids, updated.pending_cameras) == (["clip-b"], ["cam-a"])
    assert [a.id for a in store.alerts_with_pending_clips()] == [alert.id]
    updated = store.record_clips(alert.id, {}, given_up=["cam-a"])
    assert (updated.clip_ids, updated.pending_cameras, updated.clips_pending) == (
        ["clip-b"],
        [],
        False,
    )


def test_list_alerts_newest_first_with_keyset_paging_and_filters(store: EventStore) -> None:
    ids = []
    for i in range(5):
        store.claim(event_row(f"e{i}"))
        # e1 and e2 share a create_time: the id breaks the tie.
        created = T0 + timedelta(seconds=min(i, 1) if i < 3 else i)
        alert = store.create_alert(
            alert_row(f"e{i}", create_time=created, store_id="s2" if i == 4 else "s1")
        )
        ids.append((created, alert.id))
    expected = [a for _, a in sorted(ids, reverse=True)]
    seen: list[str] = []
    after = None
    while True:
        page = store.list_alerts(2, after)
        seen += [a.id for a, _ in page]
        if len(page) < 2:
            break
        last = page[-1][0]
        after = PageCursor(as_utc(last.create_time), last.id)
    assert seen == expected
    only_s2 = store.list_alerts(10, store_id="s2")
    assert [(a.event_id, e.event_id) for a, e in only_s2] == [("e4", "e4")]
    assert store.list_alerts(10, register_id="nope") == []
