"""Alembic environment of the clipper service (run by ``eventclip.db.upgrade``)."""

from eventclip.clipper.models import metadata
from eventclip.db import run_migrations

run_migrations(metadata)
