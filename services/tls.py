"""TLS from config (``tls:``): credentials for the gRPC servers and channels
and the options uvicorn takes for the gateway. With ``tls.cert_file`` unset
everything stays plaintext, as the embedded demo on loopback wants.

Services authenticate each other with the service key (``eventclip.auth``),
not client certificates: TLS here protects the keys and media on the wire and
lets clients check whom they talk to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc

from eventclip.config import ConfigError, TlsConfig


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"tls.{key}: cannot read {path}: {err.strerror}") from err


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials | None:
    """Credentials for ``add_secure_port``; None when TLS is off.
    Raises ConfigError naming the key whose file cannot be read."""
    if tls.cert_file is None or tls.key_file is None:
        return None
    chain = _read(tls.cert_file, "cert_file")
    key = _read(tls.key_file, "key_file")
    try:
        return grpc.ssl_server_credentials([(key, chain)])
    except RuntimeError as err:
        raise ConfigError(f"tls: cannot use {tls.cert_file} / {tls.key_file}: {err}") from err


def channel_credentials(
    tls: TlsConfig,
) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]] | None:
    """Credentials and extra channel options (the name override) for
    ``secure_channel``; None when TLS is off.
    Raises ConfigError naming the key whose file cannot be read."""
    if tls.cert_file is None:
        return None
    roots = _read(tls.ca_file, "ca_file") if tls.ca_file else _read(tls.cert_file, "cert_file")
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    return grpc.ssl_channel_credentials(root_certificates=roots), options


def uvicorn_options(tls: TlsConfig) -> dict[str, str]:
    """``uvicorn.Config`` keyword arguments serving HTTPS; empty when TLS is off.
    Raises ConfigError naming the key whose file cannot be read."""
    if tls.cert_file is None or tls.key_file is None:
        return {}
    _read(tls.cert_file, "cert_file")
    _read(tls.key_file, "key_file")
    return {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}


def http_scheme(tls: TlsConfig) -> str:
    """ "https" when the gateway serves TLS, else "http"."""
    return "https" if tls.enabled else "http"
