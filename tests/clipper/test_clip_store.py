"""The clips table on SQLite and PostgreSQL: migrations, idempotency, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy

from eventclip.clipper.models import FAILED, PENDING, READY, RECORDING, ClipRecord
from eventclip.clipper.store import ClipStore, new_clip_id
from eventclip.pagination import PageCursor

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


def clip(n: int = 0, **fields: object) -> ClipRecord:
    created = T0 + timedelta(seconds=n)
    values: dict[str, object] = {
        "id": new_clip_id(created),
        "camera_id": "cam1",
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=4),
        "event_time": T0 + timedelta(seconds=2),
        "next_attempt_at": T0 + timedelta(seconds=5),
        "trace_context": {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
        "create_time": created,
        "update_time": created,
    }
    values.update(fields)
    return ClipRecord(**values)


@pytest.fixture
def store(database_url: str):
    store = ClipStore.open(database_url)
    try:
        yield store
    finally:
        store.close()


def test_migration_creates_the_table_and_its_version_row(store: ClipStore) -> None:
    inspector = sqlalchemy.inspect(store.engine)
    assert "clips" in inspector.get_table_names()
    assert "alembic_version_clipper" in inspector.get_table_names()
    columns = {c["name"] for c in inspector.get_columns("clips")}
    assert {"sha256", "thumbnail_sha256", "trace_context", "next_attempt_at"} <= columns
    assert {"complete", "gaps", "legal_hold", "expire_time", "metadata_sha256"} <= columns
    with store.engine.connect() as conn:
        version = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version_clipper"))
        assert version.scalar() == "0003"


def test_migrations_match_the_models(store: ClipStore) -> None:
    """Alembic's autogenerate comparison finds nothing the migrations missed."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from eventclip.clipper.models import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # Tables of other services (and Alembic's version tables) are not ours to compare.
    ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in metadata.tables)]
    assert ours == []


def test_round_trip_keeps_utc_times_and_trace_context(store: ClipStore) -> None:
    record, created = store.create(clip())
    assert created
    loaded = store.get(record.id)
    assert loaded is not None
    assert loaded.event_time == T0 + timedelta(seconds=2)
    assert loaded.event_time.tzinfo is not None
    assert loaded.trace_context["traceparent"].startswith("00-111")
    assert loaded.state == PENDING
    assert store.get("nope") is None


def test_one_clip_per_alert_and_camera(store: ClipStore) -> None:
    first, created = store.create(clip(0, alert_id="a1"))
    again, created_again = store.create(clip(1, alert_id="a1"))
    assert created and not created_again
    assert again.id == first.id
    other_camera, created = store.create(clip(2, alert_id="a1", camera_id="cam2"))
    assert created and other_camera.id != first.id
    # Clips without an alert (manual) never collide with each other.
    assert store.create(clip(3))[1] and store.create(clip(4))[1]


def test_one_clip_per_request_id(store: ClipStore) -> None:
    first, _ = store.create(clip(0, request_id="r-1"))
    again, created = store.create(clip(1, request_id="r-1", camera_id="cam2"))
    assert not created and again.id == first.id


def test_newest_first_pages_and_filters(store: ClipStore) -> None:
    ids = [store.create(clip(n, event_id=f"e{n % 2}"))[0].id for n in range(5)]
    page = store.list_clips(2)
    assert [c.id for c in page] == [ids[4], ids[3]]
    cursor = PageCursor(page[-1].create_time, page[-1].id)
    assert [c.id for c in store.list_clips(10, cursor)] == [ids[2], ids[1], ids[0]]
    assert [c.id for c in store.list_clips(10, event_id="e1")] == [ids[3], ids[1]]
    assert store.list_clips(10, camera_id="cam9") == []


def test_unfinished_and_update(store: ClipStore) -> None:
    a, _ = store.create(clip(0))
    b, _ = store.create(clip(1, state=RECORDING))
    c, _ = store.create(clip(2, state=READY))
    assert {r.id for r in store.unfinished()} == {a.id, b.id}
    updated = store.update(a.id, state=FAILED, failure_reason="gone", attempts=3)
    assert (updated.state, updated.failure_reason, updated.attempts) == (FAILED, "gone", 3)
    assert updated.update_time > a.update_time
    assert {r.id for r in store.unfinished()} == {b.id}
    with pytest.raises(KeyError):
        store.update("missing", state=READY)
    assert c.id


def test_ids_sort_by_creation_time() -> None:
    early, late = new_clip_id(T0), new_clip_id(T0 + timedelta(milliseconds=1))
    assert len(early) == 20 and early < late
