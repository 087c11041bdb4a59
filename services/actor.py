"""Who is calling: the actor recorded in audit trails.

One place decides it, so that authentication can later name the caller (the
API key's name) without touching the services. Until then every API caller is
``anonymous``; the services' own actions are ``system``.
"""

from __future__ import annotations

import grpc

ANONYMOUS = "anonymous"
SYSTEM = "system"


def request_actor(context: grpc.aio.ServicerContext | None) -> str:
    """The actor of the gRPC call ``context`` belongs to. Always ``anonymous``
    for now: no call carries credentials yet."""
    return ANONYMOUS
