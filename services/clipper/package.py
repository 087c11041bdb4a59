"""The signed evidence package: a ZIP whose manifest lists every other file with
its size and SHA-256, signed with Ed25519. Writing (``PackageWriter``) and
checking (``verify_package``) live together so they cannot drift apart.

Format ``eventclip-evidence/1``
-------------------------------
Members (media stored uncompressed, JSON deflated)::

    manifest.json         the list of every other member (below), UTF-8 JSON
    manifest.sig          raw 64-byte Ed25519 signature of manifest.json's exact bytes
    README.txt            how to verify this package by hand
    alert.json            the alert (eventclip.v1.Alert, proto3 JSON)
    event.json            the POS event that raised it (eventclip.v1.PosEvent, proto3 JSON)
    clips/<id>/clip.json      the clip record at export (eventclip.v1.Clip, proto3 JSON)
    clips/<id>/video.mp4      the MP4 as stored (its SHA-256 is the clip's sha256)
    clips/<id>/thumbnail.jpg  the JPEG thumbnail, when the clip has one
    clips/<id>/metadata.json  the clip's sidecar (eventclip.clipper.sidecar)
    clips/<id>/audit.json     the clip's audit trail up to the export, with chain check

``manifest.json``::

    {"format": "eventclip-evidence/1", "generator": "eventclip 0.1.0",
     "alert_id": "...", "event_id": "...", "create_time": "2026-...Z",
     "signature": {"file": "manifest.sig", "algorithm": "Ed25519",
                   "public_key_sha256": "<hex SHA-256 of the raw 32-byte public key>"},
     "clips": [{"clip_id", "camera_id", "state", "included", "reason"}],
     "files": [{"path": "alert.json", "size_bytes": 1234, "sha256": "<hex>"}, ...]}

A package holds when (1) manifest.sig is a valid Ed25519 signature of the
bytes of manifest.json under the expected public key, (2) every file in
``files`` is a member with exactly that size and SHA-256, and (3) the ZIP holds
no other member (and no name twice).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import eventclip
from eventclip.clipper.jsonfile import document_bytes
from eventclip.clipper.signing import (
    ALGORITHM,
    SIGNATURE_BYTES,
    SigningKey,
    fingerprint,
    signature_holds,
)
from eventclip.timeutil import as_utc, rfc3339

FORMAT = "eventclip-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CONTENT_TYPE = "application/zip"
#: Read size while hashing members.
BLOCK_BYTES = 1024 * 1024

README = """\
eventclip evidence package ({format})

manifest.json lists every other file of this package with its size in bytes
and its SHA-256. manifest.sig is the raw 64-byte Ed25519 signature (RFC 8032)
of the exact bytes of manifest.json. The signing key's public half is served
by the eventclip installation that made the package
(GET /api/v1/evidence/public-key, SubjectPublicKeyInfo PEM); its fingerprint,
the SHA-256 of the raw 32-byte public key, is in manifest.json under
signature.public_key_sha256.

To verify by hand (OpenSSL 3 and coreutils), in the unzipped folder:

  openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin \\
      -in manifest.json -sigfile manifest.sig
  sha256sum README.txt alert.json event.json clips/*/*    # compare with manifest.json

or with eventclip: eventclip evidence verify PACKAGE.zip --public-key public-key.pem

Each clips/<id>/audit.json holds the clip's hash-chained audit trail: remove
"sha256" from an entry, write the rest as RFC 8785 canonical JSON (sorted keys,
no spaces, UTF-8), and its SHA-256 is that "sha256"; each entry's
"previous_sha256" is the sha256 of the entry before it (64 zeros for the first).
"""


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    t = as_utc(when)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


@dataclass(frozen=True)
class PackedFile:
    """A member of the package as the manifest lists it."""

    path: str
    size_bytes: int
    sha256: str


class DigestMismatch(Exception):
    """A member written from a stored file did not hash to the SHA-256 expected
    for it; the message names the member."""


class PackageWriter:
    """Writes a package to ``path`` member by member (hashing as it writes), then
    the manifest and its signature (``finish``). Blocking."""

    def __init__(self, path: Path, create_time: datetime) -> None:
        self.create_time = as_utc(create_time)
        self.files: list[PackedFile] = []
        self._zip = zipfile.ZipFile(path, "w", allowZip64=True)

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_zip_time(self.create_time))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, name: str, data: bytes) -> PackedFile:
        """A small member (JSON, text), deflated."""
        self._zip.writestr(self._info(name, compress=True), data)
        packed = PackedFile(name, len(data), hashlib.sha256(data).hexdigest())
        self.files.append(packed)
        return packed

    def add_stream(
        self, name: str, chunks: Iterable[bytes], expected_sha256: str | None = None
    ) -> PackedFile:
        """A media member, stored uncompressed, from ``chunks``. Raises
        DigestMismatch when ``expected_sha256`` is given and the bytes differ."""
        digest, size = hashlib.sha256(), 0
        with self._zip.open(self._info(name, compress=False), "w", force_zip64=True) as out:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        packed = PackedFile(name, size, digest.hexdigest())
        if expected_sha256 is not None and packed.sha256 != expected_sha256:
            raise DigestMismatch(
                f"{name}: the stored file hashes to {packed.sha256}, not the "
                f"{expected_sha256} recorded when it was made"
            )
        self.files.append(packed)
        return packed

    def finish(self, signer: SigningKey, header: dict[str, Any]) -> bytes:
        """Write manifest.json (``header`` fields, then ``files``) and manifest.sig,
        close the ZIP; returns the manifest's bytes."""
        manifest = {
            "format": FORMAT,
            "generator": f"eventclip {eventclip.__version__}",
            **header,
            "create_time": rfc3339(self.create_time),
            "signature": {
                "file": SIGNATURE,
                "algorithm": ALGORITHM,
                "public_key_sha256": signer.fingerprint,
            },
            "files": [
                {"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256} for f in self.files
            ],
        }
        data = document_bytes(manifest)
        self._zip.writestr(self._info(MANIFEST, compress=True), data)
        self._zip.writestr(self._info(SIGNATURE, compress=False), signer.sign(data))
        self._zip.close()
        return data

    def abort(self) -> None:
        self._zip.close()


@dataclass
class PackageCheck:
    """What ``verify_package`` found: ``problem`` names the first member that
    does not hold (empty when all do); ``checked`` the members verified."""

    problem: str = ""
    member: str = ""
    checked: list[str] = field(default_factory=list)
    alert_id: str = ""
    manifest_key_sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def _member_digest(archive: zipfile.ZipFile, name: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with archive.open(name) as member:
        while block := member.read(BLOCK_BYTES):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def verify_package(path: Path, public_key: Any) -> PackageCheck:
    """Check the package at ``path`` against ``public_key`` (Ed25519): the
    signature of manifest.json first, then every listed file in manifest order,
    then that nothing unlisted is in the ZIP. Stops at the first member that
    does not hold. Raises OSError when the file cannot be read."""
    check = PackageCheck()

    def fail(member: str, reason: str) -> PackageCheck:
        check.member, check.problem = member, f"{member}: {reason}"
        return check

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        return fail(str(path), f"not a ZIP file ({err})")
    with archive:
        names = archive.namelist()
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            return fail(twice[0], "appears more than once in the ZIP")
        for required in (MANIFEST, SIGNATURE):
            if required not in names:
                return fail(required, "missing: this is not an eventclip evidence package")
        try:
            manifest_bytes = archive.read(MANIFEST)
        except zipfile.BadZipFile as err:
            return fail(MANIFEST, f"damaged in the ZIP ({err})")
        try:
            signature = archive.read(SIGNATURE)
        except zipfile.BadZipFile as err:
            return fail(SIGNATURE, f"damaged in the ZIP ({err})")
        key_sha256 = fingerprint(public_key)
        if len(signature) != SIGNATURE_BYTES or not signature_holds(
            public_key, signature, manifest_bytes
        ):
            return fail(
                SIGNATURE,
                f"is not a valid signature of {MANIFEST} by the Ed25519 key {key_sha256} "
                f"(one of them was changed, or another key signed the package)",
            )
        check.checked += [MANIFEST, SIGNATURE]
        try:
            manifest = json.loads(manifest_bytes)
            files = [(f["path"], int(f["size_bytes"]), str(f["sha256"])) for f in manifest["files"]]
        except (ValueError, KeyError, TypeError) as err:
            return fail(MANIFEST, f"signed, but not a readable {FORMAT} manifest ({err})")
        check.alert_id = str(manifest.get("alert_id", ""))
        check.manifest_key_sha256 = str(manifest.get("signature", {}).get("public_key_sha256", ""))
        for name, size, sha256 in files:
            if name not in names:
                return fail(name, "listed in the manifest but missing from the ZIP")
            try:
                actual_size, actual_sha256 = _member_digest(archive, name)
            except zipfile.BadZipFile as err:
                return fail(name, f"damaged in the ZIP ({err})")
            if actual_sha256 != sha256 or actual_size != size:
                return fail(
                    name,
                    f"SHA-256 {actual_sha256} ({actual_size} bytes) does not match the "
                    f"manifest's {sha256} ({size} bytes)",
                )
            check.checked.append(name)
        listed = {name for name, _size, _sha in files} | {MANIFEST, SIGNATURE}
        unlisted = [n for n in names if n not in listed]
        if unlisted:
            return fail(unlisted[0], "is in the ZIP but not in the manifest")
    return check


def readme() -> bytes:
    """README.txt of a package."""
    return README.format(format=FORMAT).encode("utf-8")


def member_names(clip_id: str) -> dict[str, str]:
    """Paths of one clip's members: clip, video, thumbnail, metadata, audit."""
    base = f"clips/{clip_id}"
    return {
        "clip": f"{base}/clip.json",
        "video": f"{base}/video.mp4",
        "thumbnail": f"{base}/thumbnail.jpg",
        "metadata": f"{base}/metadata.json",
        "audit": f"{base}/audit.json",
    }
