"""The audit trail of a clip: an append-only, hash-chained log (table ``clip_audit``).

Every entry carries the SHA-256 of the previous entry of the same clip, so
editing an entry changes its hash (and breaks the link from the next one), and
removing one leaves a gap in ``sequence`` or a broken link. The clip row keeps
the head of its chain (``audit_sequence``, ``audit_sha256``), so removing the
newest entries shows too. A chain proves order and integrity against edits by
anyone who cannot also rewrite every later hash *and* the head; an evidence
package (``eventclip.clipper.evidence``) signs the trail as it was at export.

The hash of an entry (what a court expert recomputes by hand)
--------------------------------------------------------------
``sha256`` is the lowercase hex SHA-256 of the UTF-8 bytes of the RFC 8785
(JSON Canonicalization Scheme) form of this JSON object, i.e. the entry without
its own ``sha256``::

    {"action": "ready", "actor": "system", "clip_id": "0192f0c3a1b2c3d4e5f6",
     "detail": "...", "previous_sha256": "<64 hex>", "sequence": 3,
     "time": "2026-11-23T16:03:02.123456Z"}

Keys sorted, no whitespace, strings with only ``"``, ``\\`` and control
characters escaped (as ``\\n``, ``\\u001f`` ...), non-ASCII text as plain UTF-8,
``sequence`` a bare integer, ``time`` RFC 3339 in UTC with exactly six
fractional digits and ``Z``. For these value types that is exactly Python's
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
The first entry of a clip has ``previous_sha256`` of 64 zeros (``"0" * 64``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from eventclip.clipper.models import (
    CANCELLED,
    DELETED,
    FAILED,
    PENDING,
    READY,
    RECORDING,
    AuditRecord,
    ClipRecord,
)
from eventclip.timeutil import as_utc, rfc3339, to_timestamp
from eventclip.v1 import clips_pb2

#: previous_sha256 of a clip's first entry.
GENESIS_SHA256 = "0" * 64

#: Actions (AuditEntry.action).
CREATED, VIEWED, DOWNLOADED, EXPORTED = "created", "viewed", "downloaded", "exported"
HELD, RELEASED = "held", "released"
#: Clip state -> the action written when a clip enters it. PENDING is entered
#: again only when an attempt failed and another is due.
STATE_ACTIONS = {
    PENDING: "retrying",
    RECORDING: "recording",
    READY: "ready",
    FAILED: "failed",
    CANCELLED: "cancelled",
    DELETED: "deleted",
}


def hashed_fields(entry: AuditRecord) -> dict[str, Any]:
    """The object whose canonical JSON is hashed (every field but ``sha256``)."""
    return {
        "action": entry.action,
        "actor": entry.actor,
        "clip_id": entry.clip_id,
        "detail": entry.detail,
        "previous_sha256": entry.previous_sha256,
        "sequence": entry.sequence,
        "time": rfc3339(entry.time),
    }


def canonical_bytes(entry: AuditRecord) -> bytes:
    """The exact bytes ``sha256`` is computed over (see the module docstring)."""
    text = json.dumps(
        hashed_fields(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return text.encode("utf-8")


def entry_sha256(entry: AuditRecord) -> str:
    """Lowercase hex SHA-256 of ``canonical_bytes(entry)``."""
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


def append(
    session: Session, clip: ClipRecord, action: str, actor: str, detail: str, time: datetime
) -> AuditRecord:
    """Add the next entry of ``clip``'s chain to ``session`` and move the head on
    ``clip``; the caller commits both in one transaction, with ``clip`` loaded
    under a write lock (two appends must not take the same sequence)."""
    entry = AuditRecord(
        clip_id=clip.id,
        sequence=clip.audit_sequence + 1,
        time=as_utc(time),
        action=action,
        actor=actor,
        detail=detail,
        previous_sha256=clip.audit_sha256 or GENESIS_SHA256,
        sha256="",
    )
    entry.sha256 = entry_sha256(entry)
    clip.audit_sequence, clip.audit_sha256 = entry.sequence, entry.sha256
    session.add(entry)
    session.add(clip)
    return entry


@dataclass(frozen=True)
class ChainCheck:
    """Result of verifying a chain: ``intact``, else ``error`` names the first
    entry that fails and why."""

    intact: bool
    error: str = ""


def verify_chain(
    entries: Sequence[AuditRecord],
    *,
    head_sequence: int | None = None,
    head_sha256: str | None = None,
) -> ChainCheck:
    """Check a clip's whole trail, oldest first: sequences 1, 2, 3 ... without a
    gap, every ``sha256`` recomputes from its entry, every ``previous_sha256``
    is the previous entry's ``sha256`` (zeros for the first), and the last entry
    is the head recorded on the clip row (when given)."""
    previous = GENESIS_SHA256
    for expected, entry in enumerate(entries, start=1):
        if entry.sequence != expected:
            return ChainCheck(
                False, f"entry {expected} is missing (the trail jumps to {entry.sequence})"
            )
        if entry.previous_sha256 != previous:
            return ChainCheck(
                False,
                f"entry {expected} ({entry.action}): previous_sha256 does not match "
                f"the SHA-256 of entry {expected - 1}",
            )
        recomputed = entry_sha256(entry)
        if entry.sha256 != recomputed:
            return ChainCheck(
                False,
                f"entry {expected} ({entry.action}): its content does not match its "
                f"sha256 (recomputed {recomputed})",
            )
        previous = entry.sha256
    count = len(entries)
    if head_sequence is not None and head_sequence != count:
        return ChainCheck(
            False, f"the clip records {head_sequence} entries but the trail has {count}"
        )
    if head_sha256 is not None and count and head_sha256 != previous:
        return ChainCheck(False, f"entry {count} is not the head recorded on the clip")
    return ChainCheck(True)


def _bytes(size: int | None) -> str:
    return f"{size} bytes" if size is not None else "no size"


def coverage_text(clip: ClipRecord) -> str:
    """ "complete", or "incomplete: 12.4 s of the window missing"."""
    if clip.complete:
        return "complete"
    missing = sum(gap["end"] - gap["start"] for gap in clip.gaps)
    if missing > 0:
        return f"incomplete: {missing:.1f} s of the window missing"
    return "incomplete"


def transition_detail(clip: ClipRecord) -> str:
    """What the entry for ``clip`` entering its current state says."""
    if clip.state == RECORDING:
        return f"attempt {clip.attempts}"
    if clip.state == READY:
        parts = [f"video {_bytes(clip.size_bytes)} SHA-256 {clip.sha256}"]
        if clip.thumbnail_sha256:
            parts.append(
                f"thumbnail {_bytes(clip.thumbnail_size_bytes)} SHA-256 {clip.thumbnail_sha256}"
            )
        if clip.metadata_sha256:
            parts.append(
                f"metadata {_bytes(clip.metadata_size_bytes)} SHA-256 {clip.metadata_sha256}"
            )
        parts.append(coverage_text(clip))
        return "; ".join(parts)
    if clip.state == FAILED and clip.sha256:
        return f"{clip.failure_reason}; media kept: video {_bytes(clip.size_bytes)} SHA-256 {clip.sha256}"
    return clip.failure_reason


def created_detail(clip: ClipRecord) -> str:
    """What the "created" entry says: the window asked for and what it is for."""
    parts = [
        f"camera {clip.camera_id}",
        f"window {rfc3339(clip.start_time)} .. {rfc3339(clip.end_time)}",
        f"event time {rfc3339(clip.event_time)}",
    ]
    if clip.alert_id:
        parts.append(f"alert {clip.alert_id}")
    if clip.event_id:
        parts.append(f"event {clip.event_id}")
    if clip.request_id:
        parts.append(f"request {clip.request_id}")
    return "; ".join(parts)


def entry_message(entry: AuditRecord) -> clips_pb2.AuditEntry:
    """The AuditEntry message for a row."""
    return clips_pb2.AuditEntry(
        clip_id=entry.clip_id,
        sequence=entry.sequence,
        time=to_timestamp(entry.time),
        action=entry.action,
        actor=entry.actor,
        detail=entry.detail,
        previous_sha256=entry.previous_sha256,
        sha256=entry.sha256,
    )


def entry_document(entry: AuditRecord) -> dict[str, Any]:
    """An entry as the evidence package stores it: the hashed fields exactly as
    hashed (``time`` in its canonical form) plus ``sha256``, so removing
    ``sha256`` and canonicalising the rest gives the bytes that were hashed."""
    return {**hashed_fields(entry), "sha256": entry.sha256}
