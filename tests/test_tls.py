"""TLS by config: ``eventclip run`` with ``tls.cert_file``/``key_file`` serves
gRPC and HTTPS only, its services reach each other over TLS (a refund through
the gateway becomes a READY clip), clients that do not trust the certificate
or speak plaintext get nowhere, API keys still apply, and a certificate that
cannot be read is one line from the CLI."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import pytest
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from processes import EVENTCLIP, Suite, make_key, write_config

from eventclip.config import ConfigError, load_settings
from eventclip.v1 import clips_pb2, clips_pb2_grpc


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost and its key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def health(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=2
    )
    return reply.status


async def wait_https(suite: Suite, ca: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(verify=trusting(ca)) as http:
        while True:
            assert suite.processes["all"].poll() is None, suite.tail()
            try:
                if (
                    await http.get(f"https://127.0.0.1:{suite.ports['gateway']}/healthz")
                ).is_success:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, suite.tail()
            await asyncio.sleep(0.2)


def test_run_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "eventclip")
    stranger, _ = self_signed(tmp_path, "stranger")
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    suite = Suite(
        write_config(tmp_path, ports, tls={"cert_file": str(cert), "key_file": str(key)}), ports
    )
    suite.env["EVENTCLIP_AUTH__ENABLED"] = "true"
    admin = make_key(suite, "admin")
    suite.start("all")
    try:
        asyncio.run(_exercise(suite, cert, stranger, admin))
    finally:
        suite.stop_all()
    output = suite.logs["all"].read_text()
    assert f"gateway  https://127.0.0.1:{ports['gateway']}" in output, output
    assert f"clipper  grpcs://127.0.0.1:{ports['clipper']}" in output, output
    assert "Traceback" not in output, output[-5000:]


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def _exercise(suite: Suite, cert: Path, stranger: Path, admin: str) -> None:
    await wait_https(suite, cert)
    cert_pem, stranger_pem = await asyncio.to_thread(
        lambda: (cert.read_bytes(), stranger.read_bytes())
    )
    target = suite.grpc_target("clipper")
    trusted = grpc.ssl_channel_credentials(root_certificates=cert_pem)
    async with grpc.aio.secure_channel(target, trusted) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        clips = clips_pb2_grpc.ClipServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await clips.ListClips(clips_pb2.ListClipsRequest(), timeout=2)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED  # keys still apply
        await clips.ListClips(
            clips_pb2.ListClipsRequest(), metadata=(("authorization", f"Bearer {admin}"),)
        )
    # Plaintext, or TLS that trusts another certificate, never reaches a service.
    untrusted = grpc.ssl_channel_credentials(root_certificates=stranger_pem)
    for channel in (
        grpc.aio.insecure_channel(target),
        grpc.aio.secure_channel(target, untrusted),
    ):
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await health(channel)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    gateway = suite.ports["gateway"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway}", timeout=3) as plain:
        with pytest.raises(httpx.TransportError):
            await plain.get("/healthz")
    async with httpx.AsyncClient(verify=trusting(stranger), timeout=3) as wary:
        with pytest.raises(httpx.ConnectError):
            await wary.get(f"https://127.0.0.1:{gateway}/healthz")

    # gateway -> events -> clipper -> buffer, every hop over TLS.
    async with httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{gateway}",
        verify=trusting(cert),
        headers={"authorization": f"Bearer {admin}"},
        timeout=10,
    ) as https:
        deadline = time.monotonic() + 30
        while True:  # wait until the ring holds the pre-roll
            camera = (await https.get("/api/v1/cameras/cam")).json()
            if camera.get("state") == "ONLINE" and float(camera["bufferedDuration"][:-1]) >= 3:
                break
            assert time.monotonic() < deadline, (camera, suite.tail())
            await asyncio.sleep(0.2)
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        submitted = await https.post(
            "/api/v1/events",
            json={
                "eventId": "pos-tls-1",
                "type": "REFUND",
                "storeId": "s1",
                "registerId": "till-1",
                "transactionId": "t-tls-1",
                "occurredAt": now.isoformat().replace("+00:00", "Z"),
                "amount": {"currencyCode": "USD", "units": "500"},
            },
        )
        assert submitted.status_code == 201, submitted.text
        (clip_id,) = submitted.json()["clipIds"]
        while True:
            clip = (await https.get(f"/api/v1/clips/{clip_id}")).json()
            if clip["state"] not in ("PENDING", "RECORDING"):
                break
            assert time.monotonic() < deadline + 30, (clip, suite.tail())
            await asyncio.sleep(0.2)
        assert clip["state"] == "READY", clip
        assert clip["links"]["video"].startswith("/"), clip["links"]
        video = await https.get(clip["links"]["video"], headers={"authorization": ""})
        assert video.status_code == 200
        assert video.content[4:8] == b"ftyp"


def test_unreadable_certificate_is_one_line(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("buffer", "clipper", "events", "gateway")}
    missing = tmp_path / "missing.crt"
    config = write_config(
        tmp_path, ports, tls={"cert_file": str(missing), "key_file": str(missing)}
    )
    done = subprocess.run(
        [str(EVENTCLIP), "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**Suite(config, ports).env, "EVENTCLIP_AUTH__ENABLED": "false"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"tls.cert_file: cannot read {missing}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_certificate_needs_its_key() -> None:
    with pytest.raises(ConfigError, match=r"tls.*cert_file and key_file go together"):
        load_settings(tls={"cert_file": "/etc/eventclip/cert.pem"})
