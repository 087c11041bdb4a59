"""ExportEvidence: the signed evidence package of one alert.

The alert (with its POS event) comes from the events service over gRPC
(``EventService.GetAlert``); the clips, their files and audit trails from this
service's store and storage. The ZIP is written in the staging area
(``eventclip.clipper.package`` has the format), then streamed in chunks of at
most 1 MiB and deleted.

Every stored file is hashed while it is copied into the package and must match
the SHA-256 recorded when it was made: a file changed at rest is refused
(DATA_LOSS) rather than signed. Once the package is complete each exported
clip gets an "exported" audit entry naming the manifest's SHA-256, so the trail
points at the exact package; the package's own audit.json files hold each
trail as it was just before.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from eventclip.clipper import audit, messages, package
from eventclip.clipper.jsonfile import document_bytes
from eventclip.clipper.models import READY, ClipRecord
from eventclip.clipper.signing import SigningKey
from eventclip.clipper.storage import CHUNK_BYTES, ClipStorage
from eventclip.clipper.store import ClipStore
from eventclip.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from eventclip.pagination import MAX_PAGE_SIZE
from eventclip.timeutil import utcnow
from eventclip.v1 import clips_pb2, events_pb2, events_pb2_grpc

log = logging.getLogger(__name__)

#: Deadline of GetAlert on the events service, seconds.
GET_ALERT_TIMEOUT_SECONDS = 10.0


def proto_json(message: Message) -> bytes:
    """A message as a package member: proto3 JSON, every field printed."""
    document = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return document_bytes(document)


def audit_document(store: ClipStore, record: ClipRecord) -> dict[str, Any]:
    """The clip's audit trail as stored in the package: each entry exactly as
    hashed plus its sha256 (``audit.entry_document``), and the chain check."""
    trail = store.audit_trail(record.id)
    check = audit.verify_chain(
        trail, head_sequence=record.audit_sequence, head_sha256=record.audit_sha256
    )
    return {
        "clip_id": record.id,
        "hash": "sha256 of the RFC 8785 canonical JSON of each entry without its sha256",
        "chain_intact": check.intact,
        "chain_error": check.error,
        "entries": [audit.entry_document(e) for e in trail],
    }


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while data := await asyncio.to_thread(f.read, CHUNK_BYTES):
            yield data


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    file_name: str
    manifest_sha256: str
    clip_ids: list[str]


class EvidenceExporter:
    """Builds and streams evidence packages (ClipService.ExportEvidence)."""

    def __init__(
        self,
        store: ClipStore,
        storage: ClipStorage,
        signer: SigningKey,
        events_channel: grpc.aio.Channel,
        events_target: str,
    ) -> None:
        self.store = store
        self.storage = storage
        self.signer = signer
        self._events = events_pb2_grpc.EventServiceStub(events_channel)
        self._events_target = events_target

    async def _alert(self, alert_id: str) -> events_pb2.Alert:
        try:
            return await self._events.GetAlert(
                events_pb2.GetAlertRequest(id=alert_id), timeout=GET_ALERT_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"alert {alert_id!r} does not exist") from err
            raise Unavailable(
                f"the events service at {self._events_target} cannot give alert "
                f"{alert_id!r}: {err.code().name}: {err.details()}"
            ) from err

    async def export(
        self, alert_id: str, actor: str
    ) -> AsyncIterator[clips_pb2.ExportEvidenceResponse]:
        """The package of ``alert_id`` in chunks of at most 1 MiB (the first with
        file_name and content_type); audited as "exported" by ``actor`` on each
        clip. Raises InvalidArgument (no alert_id), NotFound (unknown alert),
        FailedPrecondition (no READY clip), DataLoss (a file changed at rest),
        Unavailable (the events service)."""
        if not alert_id:
            raise InvalidArgument("alert_id is required")
        alert = await self._alert(alert_id)
        clips = await asyncio.to_thread(self.store.list_clips, MAX_PAGE_SIZE, alert_id=alert_id)
        if not any(c.state == READY for c in clips):
            states = ", ".join(f"{c.id} {c.state}" for c in clips) or "none"
            raise FailedPrecondition(
                f"alert {alert_id} has no READY clip to export (clips: {states})"
            )
        built = await asyncio.to_thread(self._build, alert, clips, utcnow())
        try:
            for clip_id in built.clip_ids:
                await asyncio.to_thread(
                    self.store.record_access,
                    clip_id,
                    audit.EXPORTED,
                    actor,
                    f"evidence package of alert {alert_id}, "
                    f"manifest.json SHA-256 {built.manifest_sha256}",
                )
            chunks = _file_chunks(built.path)
            first = True
            async for data in chunks:
                if first:
                    yield clips_pb2.ExportEvidenceResponse(
                        file_name=built.file_name, content_type=package.CONTENT_TYPE, data=data
                    )
                    first = False
                else:
                    yield clips_pb2.ExportEvidenceResponse(data=data)
        finally:
            built.path.unlink(missing_ok=True)

    def _build(
        self, alert: events_pb2.Alert, clips: list[ClipRecord], now: datetime
    ) -> BuiltPackage:
        """Write the package in the staging area. Blocking. Raises DataLoss."""
        file_name = f"evidence-{alert.id}.zip"
        path = self.storage.staging_path("evidence.zip")
        writer = package.PackageWriter(path, now)
        included: list[str] = []
        listing = []
        try:
            writer.add_bytes("README.txt", package.readme())
            writer.add_bytes("alert.json", proto_json(alert))
            writer.add_bytes("event.json", proto_json(alert.event))
            for record in clips:
                if record.state != READY:
                    listing.append(
                        {
                            "clip_id": record.id,
                            "camera_id": record.camera_id,
                            "state": record.state,
                            "included": False,
                            "reason": record.failure_reason or f"the clip is {record.state}",
                        }
                    )
                    continue
                self._add_clip(writer, record)
                included.append(record.id)
                listing.append(
                    {
                        "clip_id": record.id,
                        "camera_id": record.camera_id,
                        "state": record.state,
                        "included": True,
                        "reason": "",
                    }
                )
            manifest = writer.finish(
                self.signer,
                {"alert_id": alert.id, "event_id": alert.event_id, "clips": listing},
            )
        except package.DigestMismatch as err:
            writer.abort()
            path.unlink(missing_ok=True)
            log.error("evidence export of alert %s refused: %s", alert.id, err)
            raise DataLoss(f"{err}: the file was changed after it was recorded") from err
        except BaseException:
            writer.abort()
            path.unlink(missing_ok=True)
            raise
        return BuiltPackage(path, file_name, hashlib.sha256(manifest).hexdigest(), included)

    def _add_clip(self, writer: package.PackageWriter, record: ClipRecord) -> None:
        names = package.member_names(record.id)
        writer.add_bytes(names["clip"], proto_json(messages.clip_message(record)))
        files = (
            ("video", record.video_key, record.sha256),
            ("thumbnail", record.thumbnail_key, record.thumbnail_sha256),
            ("metadata", record.metadata_key, record.metadata_sha256),
        )
        for kind, key, sha256 in files:
            if key:
                chunks = self.storage.open_range(key, 0, 0, CHUNK_BYTES)
                writer.add_stream(names[kind], chunks, expected_sha256=sha256)
        writer.add_bytes(names["audit"], document_bytes(audit_document(self.store, record)))
