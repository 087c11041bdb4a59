"""Database engine and Alembic migrations, shared by the services that own tables.

Each owning service (events, clipper) keeps its SQLModel tables in its own
``models.py`` and its own Alembic history in ``migrations/`` with its own version
table (``alembic_version_<service>``), so the services can share one database
(the embedded SQLite file) or use separate ones without stepping on each other.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Dialect, Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator
from sqlmodel import MetaData, create_engine


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always reads back an aware UTC datetime.

    PostgreSQL returns aware values already; SQLite stores no zone and returns
    naive ones, which are UTC (every writer stores UTC). Attaching the zone
    here, as rows are loaded, saves converting every row afterwards (setting
    attributes on loaded ORM objects is what made a page of clips slow).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def create_db_engine(url: str) -> Engine:
    """An engine for ``sqlite:///path`` (parent directory created, WAL journal) or
    ``postgresql+psycopg://...``. A plain ``postgresql://`` URL uses psycopg 3."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(engine: Engine, migrations_dir: Path, service: str) -> None:
    """Bring ``service``'s tables to the newest migration (``alembic upgrade head``).

    Several processes may do this at once (the four services each migrate
    ``api_keys``; replicas of one service): on PostgreSQL a transaction-scoped
    advisory lock per history serialises them, and on any database a process
    that lost a race (the table made meanwhile) tries again and finds the
    history at head. Raises what Alembic raises after the last try."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["version_table"] = f"alembic_version_{service}"
    for attempt in range(MIGRATION_TRIES):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:history))"),
                        {"history": f"eventclip alembic {service}"},
                    )
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
            return
        except DBAPIError:
            if attempt == MIGRATION_TRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


#: Tries of ``upgrade`` when another process migrates the same history.
MIGRATION_TRIES = 3


def run_migrations(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only: the
    connection comes from ``upgrade``)."""
    from alembic import context

    config = context.config
    context.configure(
        connection=config.attributes["connection"],
        target_metadata=target_metadata,
        version_table=config.attributes.get("version_table", "alembic_version"),
        render_as_batch=True,  # SQLite ALTER TABLE support
    )
    with context.begin_transaction():
        context.run_migrations()
