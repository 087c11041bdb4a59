"""Fixtures of the clipper tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .harness import Harness, running_clipper


@pytest.fixture
async def clipper(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_clipper(tmp_path) as harness:
        yield harness
