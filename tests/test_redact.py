"""Secrets and internals kept out of what leaves a process: URL passwords in
any text (eventclip.redact, the log formatter) and unexpected errors answered
with an error id only (eventclip.rpc.internal_error), over real gRPC and HTTP."""

from __future__ import annotations

import io
import logging
import re

import grpc
import httpx
import pytest
from fastapi import FastAPI

from eventclip.gateway.errors import install_error_handlers
from eventclip.logs import RedactingFormatter
from eventclip.redact import redact_credentials
from eventclip.rpc import grpc_method
from eventclip.v1 import buffer_pb2, buffer_pb2_grpc


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Connection refused: 'rtsp://admin:s3cret@10.0.0.5:554/Streaming/101'",
            "Connection refused: 'rtsp://admin:***@10.0.0.5:554/Streaming/101'",
        ),
        ('{"source": "http://u:p%40ss@cam/x.m3u8"}', '{"source": "http://u:***@cam/x.m3u8"}'),
        (
            "two: rtsp://a:b@h1/s and rtsps://c:d!e@h2/s",
            "two: rtsp://a:***@h1/s and rtsps://c:***@h2/s",
        ),
        (
            "no password: rtsp://admin@h/s, rtsp://h:554/s",
            "no password: rtsp://admin@h/s, rtsp://h:554/s",
        ),
        ("mail me at ops@example.com: 10:30", "mail me at ops@example.com: 10:30"),
    ],
)
def test_url_passwords_are_redacted_in_any_text(text: str, expected: str) -> None:
    assert redact_credentials(text) == expected


def test_log_lines_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(logging.Formatter("%(message)s")))
    log = logging.getLogger("test-redact")
    log.addHandler(handler)
    try:
        try:
            raise OSError("cannot open 'rtsp://admin:hunter2@cam/1'")
        except OSError:
            log.exception("camera %s failed", "rtsp://admin:hunter2@cam/1")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert "hunter2" not in written
    assert written.count("admin:***@cam/1") == 3  # the message, the source line, the error


class Failing(buffer_pb2_grpc.BufferServiceServicer):
    @grpc_method
    async def GetCamera(self, request, context):  # type: ignore[no-untyped-def]
        raise RuntimeError(
            "(psycopg.DataError) SELECT * FROM clips WHERE id = %(id)s {'id': 'x\\x00'}"
        )


async def test_an_unexpected_grpc_error_answers_an_error_id_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = grpc.aio.server()
    buffer_pb2_grpc.add_BufferServiceServicer_to_server(Failing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await buffer_pb2_grpc.BufferServiceStub(channel).GetCamera(
                    buffer_pb2.GetCameraRequest(id="x")
                )
    finally:
        await server.stop(0)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    details = caught.value.details()
    assert "SELECT" not in details and "psycopg" not in details
    [error_id] = re.findall(r"error id ([0-9a-f]{12})", details)
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert "SELECT * FROM clips" in str(record.exc_info[1])  # the detail stays in the log


async def test_an_unexpected_http_error_answers_an_error_id_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("/var/lib/eventclip/clips/secret-path.mp4: SELECT 1")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["status"] == "INTERNAL"
    assert "secret-path" not in response.text and "SELECT" not in response.text
    [error_id] = re.findall(r"error id ([0-9a-f]{12})", error["message"])
    assert any(error_id in r.getMessage() for r in caplog.records)
