"""What the gateway refuses before a route runs (eventclip.gateway.guard), over
real HTTP: bodies that are not JSON (415, so no cross-site form or no-cors fetch
can post), bodies over gateway.max_body_bytes (413, before they are read whole),
CORS only for configured origins, and the security headers on every response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port

from eventclip.config import Settings, load_settings
from eventclip.gateway.service import start

LIMIT = 64 * 1024


def gateway_settings(tmp_path: Path, **gateway: object) -> Settings:
    # Backends nobody listens on: a request that passes the guard gets 503.
    return load_settings(
        data_dir=tmp_path,
        gateway={"max_body_bytes": LIMIT, **gateway},
        services={
            "gateway": {"port": 0},
            "buffer": {"port": free_port()},
            "events": {"port": free_port()},
            "clipper": {"port": free_port()},
        },
    )


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    service = await start(gateway_settings(tmp_path))
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{service.port}", timeout=10
        ) as client:
            yield client
    finally:
        await service.stop(2)


def error(response: httpx.Response, code: int) -> str:
    assert response.status_code == code, response.text
    body = response.json()["error"]
    assert body["code"] == code
    return body["message"]


@pytest.mark.parametrize(
    "headers, body",
    [
        ({"content-type": "text/plain"}, b'{"type": "REFUND"}'),
        ({"content-type": "application/x-www-form-urlencoded"}, b"type=REFUND"),
        ({"content-type": "multipart/form-data; boundary=x"}, b"--x--"),
        ({}, b'{"type": "REFUND"}'),
        ({}, b""),  # a bodiless POST, as a no-cors fetch sends it
    ],
)
async def test_only_json_bodies_are_accepted(
    http: httpx.AsyncClient, headers: dict[str, str], body: bytes
) -> None:
    for path in ("/api/v1/events", "/api/v1/clips/c1:cancel"):
        response = await http.post(path, content=body, headers=headers)
        assert "application/json" in error(response, 415)
    # Declared JSON (with a charset parameter) passes the guard: the dead backend answers.
    passed = await http.post(
        "/api/v1/clips/c1:cancel", headers={"content-type": "application/json; charset=utf-8"}
    )
    assert passed.status_code == 503


async def test_a_declared_oversized_body_is_refused_unread(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/events",
        content=b"{" + b" " * LIMIT + b"}",
        headers={"content-type": "application/json"},
    )
    assert "gateway.max_body_bytes" in error(response, 413)


async def test_a_streamed_body_is_refused_before_it_ends(http: httpx.AsyncClient) -> None:
    """A chunked body (no Content-Length) is answered 413 once it passes the
    limit, while the client is still sending: it is never read whole."""
    port = http.base_url.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/v1/events HTTP/1.1\r\nhost: gateway\r\n"
        b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 16 * 1024
    for _ in range(2 * LIMIT // len(chunk)):  # twice the limit, and the body goes on
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert (await http.get("/healthz")).status_code == 503  # still serving


async def test_security_headers_on_pages_api_and_docs(http: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1/clips", "/static/app.js", "/docs", "/healthz"):
        response = await http.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    page = (await http.get("/")).headers["content-security-policy"]
    assert "unsafe-inline" not in page and "default-src 'self'" in page
    assert "'unsafe-inline'" in (await http.get("/docs")).headers["content-security-policy"]


async def test_cors_is_off_unless_origins_are_configured(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    preflight = {
        "origin": "https://ops.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    refused = await http.options("/api/v1/events", headers=preflight)
    assert "access-control-allow-origin" not in refused.headers

    service = await start(
        gateway_settings(tmp_path / "cors", cors_origins=["https://ops.example.com"])
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            allowed = await client.options("/api/v1/events", headers=preflight)
            other = await client.options(
                "/api/v1/events", headers={**preflight, "origin": "https://evil.example"}
            )
    finally:
        await service.stop(2)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "access-control-allow-origin" not in other.headers


async def test_the_limit_does_not_hold_up_other_requests(http: httpx.AsyncClient) -> None:
    big = b"{" + b" " * (8 * LIMIT) + b"}"
    answers = await asyncio.gather(
        *(
            http.post("/api/v1/events", content=big, headers={"content-type": "application/json"})
            for _ in range(4)
        ),
        http.get("/healthz"),
    )
    assert [a.status_code for a in answers] == [413, 413, 413, 413, 503]
