"""API keys and roles: who may call what (see docs/ARCHITECTURE.md, "Security").

``keys`` stores keys hashed, ``roles`` says which role may call which RPC,
``grpc`` enforces it in one server interceptor per service and attaches the
service key to calls between services.
"""

from __future__ import annotations

from eventclip.auth.interceptors import Authenticator, configure, load_service_key
from eventclip.auth.keys import KeyStore
from eventclip.config import Settings


def setup(settings: Settings) -> Authenticator:
    """Configure this process's authenticator from ``settings`` (see
    ``interceptors.configure``) and return it."""
    service_key = load_service_key(
        settings.auth.service_key.get_secret_value() if settings.auth.service_key else None,
        settings.data_dir,
    )
    keys = KeyStore(settings.effective_database_url) if settings.auth.enabled else None
    authenticator = Authenticator(
        settings.auth.enabled, service_key, keys, open_reflection=settings.auth.open_reflection
    )
    configure(authenticator)
    return authenticator
