"""Fixtures shared by every test package: databases, ports, real media."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

REPO = Path(__file__).resolve().parent.parent
#: ../shared beside the checkout (CI has it; a bare clone may not).
SHARED = REPO.parent / "shared"
STREET_BIKES = SHARED / "media" / "street-bikes-640x272-25fps.mp4"

#: The PostgreSQL that CI and developer machines run (trust auth, database test).
POSTGRES_URL = os.environ.get(
    "EVENTCLIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


#: API keys are off in the services these tests start (in this process and the
#: processes they spawn, which inherit the environment): each test is about
#: something else. tests/test_auth.py turns them on in its own processes.
os.environ["EVENTCLIP_AUTH__ENABLED"] = "false"

#: The plugins tests load: the built-in rule only, never whatever else is
#: installed in the environment (settings without ``plugins`` load everything).
BUILTIN_PLUGINS = ["refund_without_approval"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def street_bikes() -> Path:
    """The real street recording from ../shared/media (skips with a reason when
    ../shared is absent, as in a bare clone; CI always has it)."""
    if not STREET_BIKES.is_file():
        pytest.skip(f"{STREET_BIKES} not present (../shared/media is not beside this checkout)")
    return STREET_BIKES


@contextlib.contextmanager
def fresh_postgres_schema(prefix: str) -> Iterator[str]:
    """A URL to a fresh schema on the real PostgreSQL, dropped afterwards.
    Raises RuntimeError when PostgreSQL does not answer."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as err:
        admin.dispose()
        raise RuntimeError(f"PostgreSQL at {POSTGRES_URL} is not reachable: {err}") from err
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on SQLite (a fresh file) and on the real PostgreSQL (a fresh
    schema, dropped afterwards). PostgreSQL not answering is a failure, not a skip."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'eventclip.db'}"
        return
    yield from _schema_or_fail("t")


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL: the separate processes share it as a
    deployment shares its database."""
    yield from _schema_or_fail("e2e")


def _schema_or_fail(prefix: str) -> Iterator[str]:
    schema = fresh_postgres_schema(prefix)
    try:
        url = schema.__enter__()
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        yield url
    finally:
        schema.__exit__(None, None, None)
