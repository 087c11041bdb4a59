"""gateway: REST/JSON (proto3 JSON mapping) over the buffer, events and clipper
gRPC APIs, plus the operator page. Stateless; talks to the others only over gRPC.

Modules: ``app`` (create_app), ``api`` (the /api/v1 routes), ``media`` (clip
bytes with HTTP ranges), ``errors`` (gRPC status -> HTTP, AIP-193 body),
``protojson`` (proto3 JSON in/out), ``openapi`` (schemas from the descriptors),
``backends`` (channels and stubs), ``service`` (start/stop under uvicorn).
"""
