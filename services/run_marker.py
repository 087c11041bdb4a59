"""A file that says a service is running, to tell a crash from a clean stop.

A service creates it at start and deletes it at the end of a clean stop; if it
is still there at the next start, the last run ended without stopping (SIGKILL,
power loss, OOM killer). One marker per service and data_dir: two processes of
one service on one data_dir (replicas) need one each.
"""

from __future__ import annotations

import os
from pathlib import Path

from eventclip.files import fsync_directory


class RunMarker:
    """The marker file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def left_by_a_crash(self) -> bool:
        """True when the last run left its marker behind; (re)creates it with
        this process's id, durably. Blocking."""
        crashed = self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as f:
            f.write(f"{os.getpid()}\n")
            f.flush()
            os.fsync(f.fileno())
        fsync_directory(self.path.parent)  # the new entry survives a power loss too
        return crashed

    def clear(self) -> None:
        """A clean stop: remove the marker. Blocking."""
        self.path.unlink(missing_ok=True)
