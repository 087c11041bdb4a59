"""OpenAPI for the gateway: JSON Schemas of the proto3 JSON mapping, derived from
the eventclip.v1 message descriptors (so the documented shapes are the wire
shapes and cannot drift from the protos), plus the error body.

Type mapping per https://protobuf.dev/programming-guides/json/: 64-bit integers
are strings, bytes base64 strings, enums their names, Timestamp an RFC 3339
string, Duration a decimal number of seconds with an "s" suffix, maps objects.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from pydantic import BaseModel, Field

F = FieldDescriptor

_SCALARS: dict[int, dict[str, Any]] = {
    F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    F.TYPE_FLOAT: {"type": "number", "format": "float"},
    F.TYPE_INT64: {"type": "string", "format": "int64"},
    F.TYPE_SINT64: {"type": "string", "format": "int64"},
    F.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    F.TYPE_UINT64: {"type": "string", "format": "uint64"},
    F.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    F.TYPE_INT32: {"type": "integer", "format": "int32"},
    F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    F.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    F.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    F.TYPE_BOOL: {"type": "boolean"},
    F.TYPE_STRING: {"type": "string"},
    F.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "example": "2026-11-21T15:00:00Z",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?\d+(\.\d{1,9})?s$",
        "example": "1.500s",
    },
}


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def message_schemas(*roots: Descriptor) -> dict[str, dict[str, Any]]:
    """JSON Schemas keyed by full message name (e.g. ``eventclip.v1.Clip``) for
    ``roots`` and every message they reach; fields use lowerCamelCase json names."""
    schemas: dict[str, dict[str, Any]] = {}

    def enum_schema(enum: EnumDescriptor) -> dict[str, Any]:
        return {"type": "string", "enum": [v.name for v in enum.values]}

    def value_schema(field: FieldDescriptor) -> dict[str, Any]:
        if field.type == F.TYPE_ENUM:
            return enum_schema(field.enum_type)
        if field.type in (F.TYPE_MESSAGE, F.TYPE_GROUP):
            visit(field.message_type)
            known = _WELL_KNOWN.get(field.message_type.full_name)
            return dict(known) if known else schema_ref(field.message_type.full_name)
        return dict(_SCALARS[field.type])

    def field_schema(field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": value_schema(value)}
        if field.is_repeated:
            return {"type": "array", "items": value_schema(field)}
        return value_schema(field)

    def visit(descriptor: Descriptor) -> None:
        name = descriptor.full_name
        if name in schemas or name in _WELL_KNOWN:
            return
        schemas[name] = {}  # placeholder: breaks cycles
        schemas[name] = {
            "type": "object",
            "title": descriptor.name,
            "properties": {f.json_name: field_schema(f) for f in descriptor.fields},
        }

    for root in roots:
        visit(root)
    return schemas


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A FastAPI ``responses`` entry for a JSON body with this schema."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class ErrorStatus(BaseModel):
    code: int = Field(description="HTTP status code", examples=[404])
    status: str = Field(description="gRPC status code name", examples=["NOT_FOUND"])
    message: str = Field(description="What went wrong; names the bad field when there is one")
    details: list[dict[str, Any]] = Field(
        default_factory=list,
        description="google.rpc detail messages in proto3 JSON, e.g. BadRequest field violations",
    )


class ErrorResponse(BaseModel):
    """Every error the gateway returns (AIP-193)."""

    error: ErrorStatus


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses`` entries for these HTTP error statuses."""
    meaning = {
        400: "A field is missing or malformed (the message and details name it)",
        404: "No such resource",
        409: "The event id was already used for a different event",
        410: "Retention deleted the clip's media (the record and audit trail remain)",
        412: "The clip is not in a state that allows this (e.g. no media yet, finished)",
        416: "The byte range lies outside the file",
        500: "DATA_LOSS: a stored file no longer matches its recorded SHA-256",
        503: "A backend service is down",
        504: "A backend service did not answer in time",
    }
    return {code: {"model": ErrorResponse, "description": meaning[code]} for code in codes}
