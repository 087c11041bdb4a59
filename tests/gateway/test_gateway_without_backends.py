"""The gateway over real HTTP (uvicorn on port 0) with every backend down: request
parsing, the AIP-193 error body, 503 for dead backends, health, docs, the page,
and start/stop of the service itself."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port

from eventclip.config import Settings, load_settings
from eventclip.gateway.service import start

REFUND = {
    "eventId": "e1",
    "type": "REFUND",
    "storeId": "s1",
    "registerId": "demo",
    "operatorId": "op7",
    "amount": {"currencyCode": "USD", "units": "500", "nanos": 0},
    "transactionId": "t1",
    "occurredAt": "2026-11-21T15:00:00Z",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Backend ports nobody listens on: every gRPC call fails with UNAVAILABLE.
    return load_settings(
        data_dir=tmp_path,
        services={
            "gateway": {"port": 0},
            "buffer": {"port": free_port()},
            "events": {"port": free_port()},
            "clipper": {"port": free_port()},
        },
    )


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    service = await start(settings)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{service.port}", timeout=10
        ) as client:
            yield client
    finally:
        await service.stop(2)


def error_of(response: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    """The AIP-193 error object of ``response``, after checking its shape."""
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == http_status
    assert error["status"] == status
    assert isinstance(error["details"], list)
    assert "Traceback" not in error["message"]
    return error


def violated_fields(error: dict[str, Any]) -> list[str]:
    return [
        v["field"]
        for d in error["details"]
        if d["@type"] == "type.googleapis.com/google.rpc.BadRequest"
        for v in d["fieldViolations"]
    ]


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/events", content=b'{"eventId": "e1",', headers={"content-type": "application/json"}
    )
    error = error_of(response, 400, "INVALID_ARGUMENT")
    assert "not valid JSON" in error["message"]
    assert "line 1" in error["message"]


async def test_body_must_be_an_object(http: httpx.AsyncClient) -> None:
    error = error_of(await http.post("/api/v1/events", json=[REFUND]), 400, "INVALID_ARGUMENT")
    assert "JSON object" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bogus": 1}, "bogus"),  # unknown field
        ({"amount": {"currencyCode": "USD", "units": 500.5}}, "amount.units"),  # float units
        ({"amount": {"currencyCode": "USD", "units": "5.5"}}, "amount.units"),
        ({"occurredAt": "yesterday"}, "occurredAt"),
        ({"occurredAt": "2026-11-21T15:00:00"}, "occurredAt"),  # no UTC offset
        ({"type": "REFUNDED"}, "type"),  # not an enum name
    ],
)
async def test_unparsable_event_names_the_field(
    http: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await http.post("/api/v1/events", json={**REFUND, **change})
    error = error_of(response, 400, "INVALID_ARGUMENT")
    assert field.rsplit(".", 1)[-1] in error["message"]
    assert violated_fields(error) == [field]


async def test_dead_backend_is_503_naming_it(http: httpx.AsyncClient) -> None:
    # A well-formed event gets past parsing and fails on the events service.
    error = error_of(await http.post("/api/v1/events", json=REFUND), 503, "UNAVAILABLE")
    assert error["message"].startswith("the events service is unavailable")
    error = error_of(await http.get("/api/v1/cameras"), 503, "UNAVAILABLE")
    assert "buffer service" in error["message"]
    error = error_of(await http.get("/api/v1/clips/c1/video"), 503, "UNAVAILABLE")
    assert "clipper service" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cameraId": "demo"}, "timestamp"),
        ({"cameraId": "demo", "timestamp": "2026-11-21T15:00:00"}, "timestamp"),
        (
            {"cameraId": "demo", "timestamp": "2026-11-21T15:00:00Z", "preRollSeconds": -1},
            "preRollSeconds",
        ),
        ({"cameraId": "demo", "timestamp": "2026-11-21T15:00:00Z", "camera": "x"}, "camera"),
        ({"timestamp": "2026-11-21T15:00:00Z"}, "cameraId"),
        ({"cameraId": "demo", "timestamp": "2026-11-21T15:00:00Z", "trim": "SOMETIMES"}, "trim"),
    ],
)
async def test_bad_manual_clip_request_is_400(
    http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    # FastAPI's own validation (422 by default) comes out in the same 400 shape.
    error = error_of(await http.post("/api/v1/clips", json=body), 400, "INVALID_ARGUMENT")
    assert violated_fields(error) == [field]
    assert error["message"].startswith(f"{field}: ")


async def test_bad_query_parameter_is_400(http: httpx.AsyncClient) -> None:
    error = error_of(await http.get("/api/v1/alerts?pageSize=lots"), 400, "INVALID_ARGUMENT")
    assert violated_fields(error) == ["pageSize"]


async def test_unknown_route_is_404_in_the_error_shape(http: httpx.AsyncClient) -> None:
    error_of(await http.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


async def test_health_is_503_naming_every_dead_backend(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert sorted(body["services"]) == ["buffer", "clipper", "events"]
    assert all(s.startswith("UNAVAILABLE") for s in body["services"].values())


async def test_docs_and_openapi_are_served_offline(http: httpx.AsyncClient) -> None:
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "cdn.jsdelivr.net" not in docs.text
    bundle = next(line for line in docs.text.split('"') if line.endswith("swagger-ui-bundle.js"))
    assert (await http.get(bundle)).status_code == 200

    spec = (await http.get("/openapi.json")).json()
    assert {"/api/v1/events", "/api/v1/clips/{clip_id}/video", "/healthz"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    clip = schemas["eventclip.v1.Clip"]["properties"]
    # The proto3 JSON mapping: lowerCamelCase, int64 as string, enums by name.
    assert clip["sizeBytes"] == {"type": "string", "format": "int64"}
    assert "READY" in clip["state"]["enum"]
    assert clip["startTime"]["format"] == "date-time"
    money = schemas["google.type.Money"]["properties"]
    assert money["units"]["type"] == "string"
    assert {"legalHold", "expireTime", "deleteTime", "metadataSha256", "gaps"} <= set(clip)
    entry = schemas["eventclip.v1.AuditEntry"]["properties"]
    assert entry["sequence"] == {"type": "string", "format": "int64"}
    assert {"previousSha256", "sha256", "actor"} <= set(entry)
    trail = schemas["eventclip.v1.ListAuditEntriesResponse"]["properties"]
    assert trail["chainIntact"] == {"type": "boolean"}
    links = schemas["ClipResource"]["allOf"][1]["properties"]["links"]["properties"]
    assert {"metadata", "audit"} <= set(links)
    hold = spec["paths"]["/api/v1/clips/{clip_id}:hold"]["post"]
    assert "412" in hold["responses"]
    video = spec["paths"]["/api/v1/clips/{clip_id}/video"]["get"]
    assert "410" in video["responses"]
    assert "download" in {p["name"] for p in video["parameters"]}
    manual = spec["paths"]["/api/v1/clips"]["post"]
    assert "202" in manual["responses"] and "400" in manual["responses"]
    assert all(op.get("summary") for path in spec["paths"].values() for op in path.values())


async def test_operator_page_and_its_assets(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        response = await http.get(asset)
        assert response.status_code == 200 and response.content
    assert "http://" not in page.text and "https://" not in page.text  # nothing remote


async def test_port_zero_and_stop(settings: Settings) -> None:
    service = await start(settings)
    assert service.name == "gateway" and service.port > 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
        assert (await client.get("/static/style.css")).status_code == 200
    await service.stop(2)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", service.port), timeout=1),
    ):
        pass
    await service.stop(2)  # a second stop is harmless


async def test_busy_port_is_a_clear_error(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = settings.model_copy(
            update={
                "services": settings.services.model_copy(
                    update={"gateway": settings.services.gateway.model_copy(update={"port": port})}
                )
            }
        )
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            await start(busy)


async def test_stop_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    # A "backend" that accepts TCP and never answers: the health check waits
    # for its whole deadline, so the request is in flight when stop() begins.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        port = silent.getsockname()[1]
        settings = load_settings(
            data_dir=tmp_path,
            services={
                "gateway": {"port": 0},
                "buffer": {"port": port},
                "events": {"port": port},
                "clipper": {"port": port},
            },
        )
        service = await start(settings)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            in_flight = asyncio.create_task(client.get("/healthz"))
            await asyncio.sleep(0.3)
            assert not in_flight.done()
            await service.stop(5)
            response = await in_flight
        assert response.status_code == 503
        assert all(s.startswith("DEADLINE_EXCEEDED") for s in response.json()["services"].values())
    finally:
        silent.close()


async def test_accepted_connections_send_without_nagle_delay(settings: Settings) -> None:
    """Every response on a connection with Nagle's algorithm on waits for the
    client's delayed ACK (~40 ms): the server side must set TCP_NODELAY."""
    service = await start(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}") as client:
            assert (await client.get("/")).status_code == 200
            # The server's end of that (kept-alive) connection, as uvicorn holds it.
            connections = list(service._server.server_state.connections)
            assert len(connections) == 1
            sock = connections[0].transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await service.stop(2)
