"""Alembic environment of the events service (run by ``eventclip.db.upgrade``)."""

from eventclip.db import run_migrations
from eventclip.events.models import metadata

run_migrations(metadata)
