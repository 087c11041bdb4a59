"""Who is calling: the actor recorded in audit trails.

One place decides it: the name of the API key the call came with
(``eventclip.auth``), ``anonymous`` when auth is off or the key is unknown
here; the services' own actions are ``system``.
"""

from __future__ import annotations

import grpc

from eventclip.auth.interceptors import authenticator, caller_of

ANONYMOUS = "anonymous"
SYSTEM = "system"


def request_actor(context: grpc.aio.ServicerContext | None) -> str:
    """The actor of the gRPC call ``context`` belongs to: its API key's name."""
    if context is None:
        return ANONYMOUS
    identity = caller_of(context)
    if identity is None or not authenticator().enabled:
        return ANONYMOUS
    return identity.name
