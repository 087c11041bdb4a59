"""API keys, stored hashed, in the database the services share.

A key is ``eck_`` and 43 URL-safe characters: 32 random bytes
(``secrets.token_urlsafe``), shown once when it is made. The table keeps only
its SHA-256; a presented key is hashed and looked up, and the stored hash is
compared in constant time (``hmac.compare_digest``). A revoked key keeps its
row (``revoke_time``), so its name stays taken and the audit trail can name it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Column
from sqlmodel import Field, MetaData, Session, SQLModel, col, select

from eventclip.db import UTCDateTime, create_db_engine, upgrade
from eventclip.timeutil import utcnow

#: The roles a key can have (see eventclip.auth.roles).
ROLES = ("viewer", "reviewer", "admin", "pos")
TOKEN_PREFIX = "eck_"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class AuthTable(SQLModel):
    metadata = MetaData()


metadata = AuthTable.metadata


class ApiKey(AuthTable, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=128, unique=True)
    role: str = Field(max_length=16)
    key_sha256: str = Field(max_length=64, unique=True)
    create_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoke_time: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


@dataclass(frozen=True)
class Identity:
    """Who a verified key belongs to: its ``name`` (the audit trail's actor) and ``role``."""

    name: str
    role: str


class KeyStoreError(Exception):
    """A key operation cannot be done (unknown role, name taken, no such key);
    the message says why in words for the person at the CLI."""


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    """The ``api_keys`` table of ``database_url`` (migrated on open)."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_db_engine(database_url)
        upgrade(self.engine, MIGRATIONS_DIR, "auth")

    def close(self) -> None:
        self.engine.dispose()

    def create(self, role: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key of ``role`` named ``name`` (default ``<role>-<n>``); returns the
        row and the token, which is not stored and cannot be shown again.
        Raises KeyStoreError for an unknown role or a name already used."""
        if role not in ROLES:
            raise KeyStoreError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            if name is None:
                taken = {k.name for k in session.exec(select(ApiKey)).all()}
                name = next(
                    f"{role}-{n}" for n in range(1, len(taken) + 2) if f"{role}-{n}" not in taken
                )
            elif session.exec(select(ApiKey).where(col(ApiKey.name) == name)).first():
                raise KeyStoreError(
                    f"a key named {name!r} exists already (names stay taken after revoke)"
                )
            key = ApiKey(
                id=uuid.uuid4().hex,
                name=name,
                role=role,
                key_sha256=token_sha256(token),
                create_time=utcnow(),
            )
            session.add(key)
            session.commit()
            session.refresh(key)
            return key, token

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with Session(self.engine) as session:
            return list(session.exec(select(ApiKey).order_by(col(ApiKey.create_time))).all())

    def active_count(self) -> int:
        return sum(1 for k in self.list() if k.revoke_time is None)

    def revoke(self, name: str) -> ApiKey:
        """Revoke the key named ``name`` (or with that id). Raises KeyStoreError when
        there is none; revoking twice keeps the first time."""
        with Session(self.engine) as session:
            key = session.exec(
                select(ApiKey).where((col(ApiKey.name) == name) | (col(ApiKey.id) == name))
            ).first()
            if key is None:
                raise KeyStoreError(f"no key named {name!r}")
            if key.revoke_time is None:
                key.revoke_time = utcnow()
                session.add(key)
                session.commit()
                session.refresh(key)
            return key

    def identify(self, token: str) -> Identity | None:
        """The identity of an active key, None for an unknown or revoked one."""
        return self.identify_digest(token_sha256(token))

    def identify_digest(self, digest: str) -> Identity | None:
        """``identify`` by the token's SHA-256 (hex), for callers that hashed it
        already (the interceptor's cache is indexed by it)."""
        with Session(self.engine) as session:
            key = session.exec(select(ApiKey).where(col(ApiKey.key_sha256) == digest)).first()
        if key is None or key.revoke_time is not None:
            return None
        if not hmac.compare_digest(key.key_sha256, digest):
            return None
        return Identity(key.name, key.role)
