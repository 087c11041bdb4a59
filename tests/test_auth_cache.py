"""The interceptor's key cache, on a real key table (SQLite): a revoke takes
effect once the cached answer expires, and callers trying random keys fill a
bounded cache, never memory."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cachetools import TTLCache

from eventclip.auth.interceptors import CACHE_SECONDS, Authenticator, Unauthenticated
from eventclip.auth.keys import KeyStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def authenticator(tmp_path: Path, clock: Clock, maxsize: int = 10_000) -> Authenticator:
    store = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}")
    return Authenticator(
        enabled=True,
        service_key="ecs_service",
        keys=store,
        _cache=TTLCache(maxsize=maxsize, ttl=CACHE_SECONDS, timer=clock),
    )


def test_a_revoke_holds_once_the_cached_answer_expires(tmp_path: Path) -> None:
    clock = Clock()
    auth = authenticator(tmp_path, clock)
    assert auth.keys is not None
    _, token = auth.keys.create("viewer", "desk")
    assert auth.identify(f"Bearer {token}").name == "desk"
    assert auth.cached_identity(f"Bearer {token}").name == "desk"
    auth.keys.revoke("desk")
    clock.now += CACHE_SECONDS - 0.1
    assert auth.identify(f"Bearer {token}").name == "desk"  # still the cached answer
    clock.now += 0.2
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        auth.identify(f"Bearer {token}")
    assert auth.identify("Bearer ecs_service").role == "service"


def test_random_keys_fill_a_bounded_cache(tmp_path: Path) -> None:
    clock = Clock()
    auth = authenticator(tmp_path, clock, maxsize=50)
    assert auth.keys is not None
    _, token = auth.keys.create("admin", "root")
    assert auth.identify(f"Bearer {token}").role == "admin"
    for _ in range(400):
        with pytest.raises(Unauthenticated):
            auth.identify(f"Bearer eck_{secrets.token_urlsafe(32)}")
    assert len(auth._cache) == 50
    assert auth.identify(f"Bearer {token}").role == "admin"  # looked up again
