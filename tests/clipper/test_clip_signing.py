"""The evidence signing key: made once with mode 0600, loaded after, refused
with a message naming the file when it is not an Ed25519 private key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from eventclip.clipper.service import start
from eventclip.clipper.signing import SigningKey, SigningKeyError, load_public_key, signature_holds
from eventclip.config import ConfigError, load_settings


def test_the_key_is_made_once_then_loaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "evidence.pem"
    made = SigningKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    loaded = SigningKey.load_or_create(path)
    assert loaded.fingerprint == made.fingerprint
    assert [p.name for p in path.parent.iterdir()] == ["evidence.pem"]  # no temp files left

    signature = made.sign(b"manifest bytes")
    assert len(signature) == 64
    public = load_public_key(loaded.public_pem.encode(), "the key")
    assert signature_holds(public, signature, b"manifest bytes")
    assert not signature_holds(public, signature, b"manifest byteS")


def test_a_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="Ed25519") as info:
        SigningKey.load_or_create(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        load_public_key(
            rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "rsa.pub",
        )


async def test_the_clipper_does_not_start_with_an_unusable_key(tmp_path: Path) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key\n")
    settings = load_settings(
        data_dir=tmp_path,
        evidence={"signing_key_path": str(bad)},
        services={"clipper": {"port": 0}},
    )
    with pytest.raises(ConfigError, match=str(bad)):
        await start(settings)
