"""Which role may call which RPC.

* ``viewer``: read (cameras, clips and their media, alerts, audit trails).
* ``reviewer``: read, and act on evidence: ask for a clip, cancel, hold and
  release it, export an alert's evidence package.
* ``admin``: everything, keys included (keys are managed with the CLI, which
  works on the database directly).
* ``pos``: submit POS events and detections, read nothing.
* ``service``: the services calling each other with the shared service key
  (a ReadWindow from the clipper, a CreateClip from the events service).

Every RPC is listed; one missing from ``METHOD_PERMISSION`` is refused to all
but ``admin`` and ``service`` (a test checks the list against the protos).
Health checks are open, as load balancers expect; server reflection is open
only when ``auth.open_reflection`` says so.
"""

from __future__ import annotations

READ, REVIEW, SUBMIT, INTERNAL = "read", "review", "submit", "internal"

#: Permissions of each role.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({READ}),
    "reviewer": frozenset({READ, REVIEW}),
    "pos": frozenset({SUBMIT}),
    "admin": frozenset({READ, REVIEW, SUBMIT, INTERNAL}),
    "service": frozenset({READ, REVIEW, SUBMIT, INTERNAL}),
}

_BUFFER, _CLIPS, _EVENTS = (
    "/eventclip.v1.BufferService/",
    "/eventclip.v1.ClipService/",
    "/eventclip.v1.EventService/",
)

#: The permission each RPC needs.
METHOD_PERMISSION: dict[str, str] = {
    _BUFFER + "ListCameras": READ,
    _BUFFER + "GetCamera": READ,
    # Raw packets and cuts: what the clipper reads to make clips.
    _BUFFER + "ReadWindow": INTERNAL,
    _BUFFER + "CutWindow": INTERNAL,
    _BUFFER + "GetSnapshot": READ,
    # Decoded video for detectors (the events service).
    _BUFFER + "SampleFrames": INTERNAL,
    _CLIPS + "GetClip": READ,
    _CLIPS + "ListClips": READ,
    _CLIPS + "ReadClipMedia": READ,
    _CLIPS + "ListAuditEntries": READ,
    _CLIPS + "GetEvidencePublicKey": READ,
    _CLIPS + "CreateClip": REVIEW,
    _CLIPS + "CancelClip": REVIEW,
    _CLIPS + "HoldClip": REVIEW,
    _CLIPS + "ReleaseClip": REVIEW,
    _CLIPS + "ExportEvidence": REVIEW,
    _EVENTS + "SubmitEvent": SUBMIT,
    _EVENTS + "StreamEvents": SUBMIT,
    _EVENTS + "SubmitDetection": SUBMIT,
    _EVENTS + "GetAlert": READ,
    _EVENTS + "ListAlerts": READ,
}

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."


def is_open(method: str, *, open_reflection: bool) -> bool:
    """Health checks are open to anyone who reaches the port (load balancers,
    compose); server reflection too when ``auth.open_reflection``, else it
    needs a key of any role."""
    return method.startswith(HEALTH_PREFIX) or (
        open_reflection and method.startswith(REFLECTION_PREFIX)
    )


def may_call(role: str, method: str) -> bool:
    """True when ``role`` may call ``method`` ("/package.Service/Method")."""
    if method.startswith(REFLECTION_PREFIX):
        return role in ROLE_PERMISSIONS  # any key may look at the API's shape
    return METHOD_PERMISSION.get(method, INTERNAL) in ROLE_PERMISSIONS.get(role, frozenset())
