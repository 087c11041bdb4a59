"""The Ed25519 key that signs evidence packages (RFC 8032, via ``cryptography``).

The private key lives in one PEM file (PKCS#8, unencrypted, mode 0600) at
``Settings.signing_key_path`` (default ``<data_dir>/evidence-signing-key.pem``);
the clipper makes it on first start and loads it afterwards. The public half is
published as SubjectPublicKeyInfo PEM (``GetEvidencePublicKey``,
``GET /api/v1/evidence/public-key``) and named everywhere by its fingerprint:
the SHA-256 (hex) of the raw 32-byte public key.

An Ed25519 signature is 64 bytes over the message itself (no separate digest
step), deterministic, and checkable with OpenSSL 3
(``openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in manifest.json
-sigfile manifest.sig``) or Python ``cryptography``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

ALGORITHM = "Ed25519"
#: Length of an Ed25519 signature in bytes.
SIGNATURE_BYTES = 64


class SigningKeyError(Exception):
    """The key file cannot be read or made, or holds no Ed25519 key; the message
    names the file."""


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    """The key as SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----")."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes, origin: str) -> Ed25519PublicKey:
    """An Ed25519 public key from SubjectPublicKeyInfo PEM. Raises ValueError
    naming ``origin`` when it is not one."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as err:
        raise ValueError(f"{origin} is not a PEM public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{origin} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def signature_holds(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``data``."""
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


class SigningKey:
    """The evidence signing key (private half), loaded or made by ``load_or_create``."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.public_pem = public_pem(self.public_key)
        self.fingerprint = fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``data``."""
        return self._private.sign(data)

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load the key at ``path``, making it first when the file does not
        exist (PKCS#8 PEM, mode 0600; two processes starting at once end up
        with the same key). Raises SigningKeyError."""
        if not path.exists():
            _create(path)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise SigningKeyError(f"cannot read the evidence signing key {path}: {err}") from err
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as err:
            raise SigningKeyError(
                f"{path} is not an unencrypted PEM private key (evidence.signing_key_path): {err}"
            ) from err
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"{path} holds a {type(key).__name__}; evidence packages need an Ed25519 key"
            )
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("evidence signing key %s is readable by others; chmod 600 it", path)
        return cls(key)


def _create(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # never replaces a key another process made first
            except FileExistsError:
                return
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as err:
        raise SigningKeyError(f"cannot create the evidence signing key {path}: {err}") from err
    log.info("made the evidence signing key %s", path)
