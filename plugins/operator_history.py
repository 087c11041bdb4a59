"""What the built-in history rules share (not a plugin: no hooks)."""

from __future__ import annotations


def human_window(seconds: float) -> str:
    """A rule window for a reason sentence: "45 s", "30 min", "24 h", "7 d"."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
