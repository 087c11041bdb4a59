"""The committed generated code must be what protos/generate.py makes now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import REPO


def _generate_module():
    spec = importlib.util.spec_from_file_location("generate", REPO / "protos" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_current(tmp_path: Path) -> None:
    written = _generate_module().generate(tmp_path)
    committed_dir = REPO / "protos" / "eventclip" / "v1"
    fresh = {p.name: p.read_bytes() for p in written}
    committed = {p.name: p.read_bytes() for p in committed_dir.glob("*_pb2*.py*")}
    assert fresh.keys() == committed.keys(), "run: python protos/generate.py"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, (
        f"generated code is stale ({', '.join(stale)}); run: python protos/generate.py"
    )


def test_generated_code_imports_as_eventclip_v1() -> None:
    from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2

    assert buffer_pb2.DESCRIPTOR.package == "eventclip.v1"
    assert {s for s in events_pb2.DESCRIPTOR.services_by_name} == {"EventService"}
    assert {s for s in clips_pb2.DESCRIPTOR.services_by_name} == {"ClipService"}
    assert set(buffer_pb2.DESCRIPTOR.services_by_name) == {"BufferService"}


def test_enums_start_with_unspecified() -> None:
    from eventclip.v1 import buffer_pb2, clips_pb2, events_pb2

    for module in (buffer_pb2, clips_pb2, events_pb2):
        for message in module.DESCRIPTOR.message_types_by_name.values():
            for enum in message.enum_types:
                first = enum.values_by_number[0].name
                assert first.endswith("_UNSPECIFIED"), (
                    f"{message.name}.{enum.name} starts with {first}"
                )
