"""Regenerate the Python gRPC code for protos/eventclip/v1/*.proto.

Usage: ``python protos/generate.py [OUT_DIR]``. With no argument the code is
written beside the .proto files (``protos/eventclip/v1/*_pb2.py``, ``*_pb2_grpc.py``
and ``.pyi`` stubs), which setuptools installs as the ``eventclip.v1`` package.
tests/test_protos.py generates into a temporary OUT_DIR and fails when the
committed code differs (the Temporal Python SDK's regenerate-and-diff check).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "eventclip" / "v1"


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc on every .proto under protos/eventclip/v1; return the files written.

    Raises RuntimeError when protoc reports an error.
    """
    import google.type  # googleapis-common-protos: google/type/money.proto

    well_known = str(resources.files("grpc_tools") / "_proto")
    googleapis = str(Path(google.type.__path__[0]).parent.parent)
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PACKAGE_DIR.glob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    return sorted((out_dir / "eventclip" / "v1").glob("*_pb2*.py*"))


if __name__ == "__main__":
    written = generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
    for path in written:
        print(path)
