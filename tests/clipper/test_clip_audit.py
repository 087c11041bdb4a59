"""The clip audit trail on SQLite and PostgreSQL: entries written with every state
change, the hash chain recomputed by the documented recipe, and tampering
through plain SQL (an edit, a removal in the middle or at the end) caught."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy

from eventclip.clipper import audit
from eventclip.clipper.models import CANCELLED, FAILED, PENDING, READY, RECORDING, ClipRecord
from eventclip.clipper.store import ClipClosed, ClipStore, StateConflict, new_clip_id

T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


def new_clip(**fields: object) -> ClipRecord:
    values: dict[str, object] = {
        "id": new_clip_id(),
        "camera_id": "cam1",
        "alert_id": "a-1",
        "event_id": "e-1",
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=4),
        "event_time": T0 + timedelta(seconds=2),
        "create_time": T0,
        "update_time": T0,
    }
    values.update(fields)
    return ClipRecord(**values)


@pytest.fixture
def store(database_url: str):
    store = ClipStore.open(database_url, clip_max_age_seconds=3600)
    try:
        yield store
    finally:
        store.close()


def make_ready_clip(store: ClipStore) -> ClipRecord:
    """A clip through created -> recording -> retrying -> recording -> ready, plus a
    view and a hold: 7 entries."""
    record, _ = store.create(new_clip(), actor="anonymous")
    store.update(record.id, state=RECORDING, attempts=1)
    store.update(record.id, state=PENDING, failure_reason="attempt 1 failed: UNAVAILABLE")
    store.update(record.id, state=RECORDING, attempts=2)
    store.update(
        record.id,
        state=READY,
        failure_reason="",
        video_key="cam1/x.mp4",
        size_bytes=1234,
        sha256="ab" * 32,
    )
    store.record_access(record.id, audit.VIEWED, "anonymous", "video from byte 0")
    store.set_legal_hold(record.id, True, actor="anonymous", reason="case 2025-17 (Officer Nuñez)")
    return record


def test_every_state_change_writes_a_chained_entry(store: ClipStore) -> None:
    record = make_ready_clip(store)
    trail = store.audit_trail(record.id)
    assert [e.action for e in trail] == [
        "created",
        "recording",
        "retrying",
        "recording",
        "ready",
        "viewed",
        "held",
    ]
    assert [e.sequence for e in trail] == list(range(1, 8))
    assert [e.actor for e in trail] == ["anonymous", *["system"] * 4, "anonymous", "anonymous"]
    assert "window 2025-03-01T10:00:00.000000Z .. 2025-03-01T10:00:04.000000Z" in trail[0].detail
    assert trail[2].detail == "attempt 1 failed: UNAVAILABLE"
    assert trail[3].detail == "attempt 2"
    assert f"SHA-256 {'ab' * 32}" in trail[4].detail
    assert trail[6].detail == "case 2025-17 (Officer Nuñez)"
    clip = store.get(record.id)
    assert clip is not None
    assert (clip.audit_sequence, clip.audit_sha256) == (7, trail[-1].sha256)
    assert audit.verify_chain(
        trail, head_sequence=clip.audit_sequence, head_sha256=clip.audit_sha256
    ) == audit.ChainCheck(True)


def test_the_hash_is_the_documented_recipe(store: ClipStore) -> None:
    """Recompute every hash from the stored columns with nothing but the recipe in
    the audit module's docstring (RFC 8785 form of the entry without sha256)."""
    record = make_ready_clip(store)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "SELECT clip_id, sequence, time, action, actor, detail, previous_sha256, sha256 "
                "FROM clip_audit WHERE clip_id = :id ORDER BY sequence"
            ),
            {"id": record.id},
        ).mappings()
        rows = [dict(r) for r in rows]
    previous = "0" * 64
    for row in rows:
        when = row["time"]
        if isinstance(when, str):  # SQLite hands back its text form
            when = datetime.fromisoformat(when)
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        document = {
            "action": row["action"],
            "actor": row["actor"],
            "clip_id": row["clip_id"],
            "detail": row["detail"],
            "previous_sha256": row["previous_sha256"],
            "sequence": int(row["sequence"]),
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert row["previous_sha256"] == previous
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == row["sha256"]
        previous = row["sha256"]
    # Non-ASCII stays plain UTF-8 (RFC 8785), not \\u escapes.
    held = audit.canonical_bytes(store.audit_trail(record.id)[-1])
    assert "Nuñez".encode() in held and b"\\u00f1" not in held


def check(store: ClipStore, clip_id: str) -> audit.ChainCheck:
    clip = store.get(clip_id)
    assert clip is not None
    return audit.verify_chain(
        store.audit_trail(clip_id), head_sequence=clip.audit_sequence, head_sha256=clip.audit_sha256
    )


def test_an_edited_entry_breaks_the_chain(store: ClipStore) -> None:
    record = make_ready_clip(store)
    with store.engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "UPDATE clip_audit SET actor = 'someone-else' WHERE clip_id = :id AND sequence = 6"
            ),
            {"id": record.id},
        )
    result = check(store, record.id)
    assert not result.intact
    assert result.error.startswith("entry 6 (viewed): its content does not match its sha256")


def test_an_edit_that_rehashes_the_entry_breaks_the_next_link(store: ClipStore) -> None:
    record = make_ready_clip(store)
    entry = store.audit_trail(record.id)[2]
    entry.detail = "nothing happened"
    with store.engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "UPDATE clip_audit SET detail = :detail, sha256 = :sha "
                "WHERE clip_id = :id AND sequence = 3"
            ),
            {"detail": entry.detail, "sha": audit.entry_sha256(entry), "id": record.id},
        )
    result = check(store, record.id)
    assert not result.intact
    assert "entry 4 (recording): previous_sha256 does not match" in result.error


@pytest.mark.parametrize("sequence", [4, 7])
def test_a_removed_entry_breaks_the_chain(store: ClipStore, sequence: int) -> None:
    record = make_ready_clip(store)
    with store.engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("DELETE FROM clip_audit WHERE clip_id = :id AND sequence = :n"),
            {"id": record.id, "n": sequence},
        )
    result = check(store, record.id)
    assert not result.intact
    if sequence == 7:  # the newest: only the head on the clip row shows it
        assert result.error == "the clip records 7 entries but the trail has 6"
    else:
        assert result.error == "entry 4 is missing (the trail jumps to 5)"


def test_chains_of_clips_are_separate(store: ClipStore) -> None:
    a, _ = store.create(new_clip())
    b, _ = store.create(new_clip(alert_id="a-2"))
    store.record_access(a.id, audit.DOWNLOADED, "anonymous", "video")
    assert [e.sequence for e in store.audit_trail(b.id)] == [1]
    assert store.audit_trail(b.id)[0].previous_sha256 == audit.GENESIS_SHA256
    assert check(store, a.id).intact and check(store, b.id).intact
    # A duplicate request writes nothing.
    again, created = store.create(new_clip(alert_id="a-2"))
    assert not created and again.id == b.id
    assert len(store.audit_trail(b.id)) == 1


def test_finishing_with_media_sets_the_expiry(store: ClipStore) -> None:
    record, _ = store.create(new_clip())
    ready = store.update(record.id, state=READY, video_key="k.mp4", sha256="0" * 64)
    assert ready.expire_time is not None
    assert ready.expire_time - ready.update_time == timedelta(hours=1)
    failed_empty, _ = store.create(new_clip(alert_id="a-3"))
    failed_empty = store.update(failed_empty.id, state=FAILED, failure_reason="no video")
    assert failed_empty.expire_time is None  # nothing to expire


def test_cancelled_clips_no_longer_change(store: ClipStore) -> None:
    record, _ = store.create(new_clip())
    cancelled = store.transition(
        record.id,
        CANCELLED,
        allowed_from=(PENDING, RECORDING),
        actor="anonymous",
        detail="cancelled by request",
    )
    assert cancelled.state == CANCELLED
    with pytest.raises(ClipClosed):
        store.update(record.id, state=RECORDING, attempts=1)  # a late job write
    with pytest.raises(StateConflict):
        store.transition(
            record.id, CANCELLED, allowed_from=(PENDING,), actor="anonymous", detail=""
        )
    with pytest.raises(StateConflict):
        store.set_legal_hold(record.id, True, actor="anonymous", reason="")
    assert [e.action for e in store.audit_trail(record.id)] == ["created", "cancelled"]
    assert check(store, record.id).intact


def test_hold_and_release_are_idempotent(store: ClipStore) -> None:
    record, _ = store.create(new_clip())
    assert store.set_legal_hold(record.id, True, actor="a", reason="r")[1]
    assert not store.set_legal_hold(record.id, True, actor="a", reason="r")[1]
    released, changed = store.set_legal_hold(record.id, False, actor="b", reason="")
    assert changed and not released.legal_hold
    assert not store.set_legal_hold(record.id, False, actor="b", reason="")[1]
    trail = store.audit_trail(record.id)
    assert [(e.action, e.actor, e.detail) for e in trail[1:]] == [
        ("held", "a", "r"),
        ("released", "b", "no reason given"),
    ]
    with pytest.raises(KeyError):
        store.set_legal_hold("missing", True, actor="a", reason="")
