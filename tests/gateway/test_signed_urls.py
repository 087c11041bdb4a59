"""Signed media links (eventclip.gateway.signed_urls): what is signed, and that
any change or the passing of time voids a link."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from eventclip.gateway.errors import ApiError
from eventclip.gateway.signed_urls import sign, signing_key, verify

KEY = signing_key("ecs_service-key")
PATH = "/api/v1/clips/c1/video"


def parts(link: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(link)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


def test_a_link_verifies_until_it_expires() -> None:
    path, query = parts(sign(KEY, PATH, by="alice", ttl_seconds=60, now=1000))
    assert path == PATH and query["by"] == "alice" and query["expires"] == "1060"
    verify(KEY, path, query["expires"], query["by"], query["sig"], now=1060)
    with pytest.raises(ApiError) as caught:
        verify(KEY, path, query["expires"], query["by"], query["sig"], now=1061)
    assert caught.value.http_status == 403 and "expired" in caught.value.message


@pytest.mark.parametrize(
    "change",
    [
        lambda p, q: ("/api/v1/clips/c2/video", q),
        lambda p, q: (p, {**q, "by": "admin"}),
        lambda p, q: (p, {**q, "expires": str(int(q["expires"]) + 3600)}),
        lambda p, q: (p, {**q, "expires": "soon"}),
        lambda p, q: (p, {**q, "sig": q["sig"][:-1] + ("0" if q["sig"][-1] != "0" else "1")}),
    ],
)
def test_any_change_voids_a_link(change) -> None:  # type: ignore[no-untyped-def]
    path, query = change(*parts(sign(KEY, PATH, by="alice", ttl_seconds=60, now=1000)))
    with pytest.raises(ApiError) as caught:
        verify(KEY, path, query["expires"], query["by"], query["sig"], now=1001)
    assert caught.value.http_status == 403 and "altered" in caught.value.message


def test_another_service_key_voids_every_link() -> None:
    path, query = parts(sign(KEY, PATH, by="alice", ttl_seconds=60, now=1000))
    with pytest.raises(ApiError):
        verify(signing_key("ecs_new"), path, query["expires"], query["by"], query["sig"], now=1001)
