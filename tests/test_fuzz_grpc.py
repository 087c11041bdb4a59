"""Property test of the gRPC request validation: any message the proto can hold
(hypothesis builds them from the descriptors: any unicode with NUL and control
characters, extreme integers, NaN and infinities, timestamps and durations
anywhere in their proto range, unknown enum numbers, nested, repeated and map
fields) sent to every RPC of the real services (``eventclip run`` as a process,
on the real PostgreSQL, with an admin key) answers OK or a client error, never INTERNAL or UNKNOWN."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import grpc
import pytest
from conftest import fresh_postgres_schema
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from processes import secured_run

from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2

EXAMPLES = 60
#: The configured camera, register and store, and the empty string.
KNOWN = ["cam", "till-1", "s1", ""]
#: What a request may answer; INTERNAL and UNKNOWN mean it got past validation.
CLIENT_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,  # the buffer: nothing buffered for that window
    grpc.StatusCode.DEADLINE_EXCEEDED,  # our deadline on a live ReadWindow
}
_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of ``descriptor``'s type (nested messages up to depth 3)."""
    cls = message_factory.GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return st.builds(
            cls, seconds=st.integers(-62135596800, 253402300799), nanos=st.integers(0, 999_999_999)
        )
    if descriptor.full_name == "google.protobuf.Duration":
        seconds = st.integers(-315_576_000_000, 315_576_000_000)
        return st.builds(cls, seconds=seconds, nanos=st.just(0))
    fields = {}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and depth >= 3:
            continue
        fields[field.name] = st.none() | _field_values(field, depth)
    return st.fixed_dictionaries(fields).map(lambda values: _build(cls, values))


def _build(cls: type[Message], values: dict) -> Message:  # type: ignore[type-arg]
    message = cls()
    for name, value in values.items():
        if value is None:
            continue
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value:
                    target.add().CopyFrom(item)
            else:
                target.extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _field_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy:  # type: ignore[type-arg]
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = _scalar(field.message_type.fields_by_name["key"])
        value_field = field.message_type.fields_by_name["value"]
        value = (
            messages(value_field.message_type, depth + 1)
            if value_field.type == FieldDescriptor.TYPE_MESSAGE
            else _scalar(value_field)
        )
        return st.dictionaries(key, value, max_size=3)
    one = (
        messages(field.message_type, depth + 1)
        if field.type == FieldDescriptor.TYPE_MESSAGE
        else _scalar(field)
    )
    return st.lists(one, max_size=3) if field.is_repeated else one


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:  # type: ignore[type-arg]
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        # Ids the services know, so requests also get past "not found".
        return st.sampled_from(KNOWN) | st.text(max_size=40) | st.text(min_size=120, max_size=300)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values]) | st.integers(-3, 99)
    low, high = _INT_BOUNDS[kind]
    return st.integers(low, high)


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, grpc.Channel]]:
    """A channel with an admin key to each service of a suite that requires keys."""
    with (
        fresh_postgres_schema("grpcfuzz") as database_url,
        secured_run(tmp_path_factory.mktemp("grpc-fuzz"), database_url) as (suite, key),
    ):
        channels = {
            name: grpc.intercept_channel(
                grpc.insecure_channel(suite.grpc_target(name)), _Metadata(key)
            )
            for name in ("buffer", "clipper", "events")
        }
        yield channels
        for c in channels.values():
            c.close()


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Every call with the admin key."""

    def __init__(self, key: str) -> None:
        self.metadata = (("authorization", f"Bearer {key}"),)

    def _with_key(self, details):  # type: ignore[no-untyped-def]
        return _Details(details.method, details.timeout, self.metadata, details.credentials)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_key(details), request)


class _Details(
    collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials")),
    grpc.ClientCallDetails,
):
    pass


def rpcs() -> list[tuple[str, str, Descriptor, Descriptor, bool]]:
    """(service key, method, request type, response type, server streaming) of every RPC."""
    found = []
    for key, module in (("buffer", buffer_pb2), ("clipper", clips_pb2), ("events", events_pb2)):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append(
                    (
                        key,
                        f"/{service.full_name}/{method.name}",
                        method.input_type,
                        method.output_type,
                        method.server_streaming,
                    )
                )
    return found


@pytest.mark.parametrize(
    "service, path, request_type, response_type, streaming",
    rpcs(),
    ids=[r[1].rsplit("/", 1)[1] for r in rpcs()],
)
def test_any_request_answers_ok_or_a_client_error(
    channel, service, path, request_type, response_type, streaming
) -> None:  # type: ignore[no-untyped-def]
    response_cls = message_factory.GetMessageClass(response_type)
    call = (channel[service].unary_stream if streaming else channel[service].unary_unary)(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_cls.FromString,
    )

    @given(messages(request_type))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def answers(request: Message) -> None:
        try:
            reply = call(request, timeout=3)
            if streaming:
                for _ in zip(range(50), reply, strict=False):
                    pass
            code = grpc.StatusCode.OK
        except grpc.RpcError as err:
            code = err.code()
            assert code in CLIENT_CODES, f"{path} answered {code}: {err.details()} to {request}"
        assert code in CLIENT_CODES

    answers()
