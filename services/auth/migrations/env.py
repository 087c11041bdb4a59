"""Alembic environment of the API keys (run by ``eventclip.db.upgrade``)."""

from eventclip.auth.keys import metadata
from eventclip.db import run_migrations

run_migrations(metadata)
