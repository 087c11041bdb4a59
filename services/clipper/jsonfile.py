"""JSON documents stored as files (sidecars, package members): one byte form."""

from __future__ import annotations

import json
from typing import Any


def document_bytes(document: Any) -> bytes:
    """``document`` as a file's bytes: UTF-8 JSON indented by two spaces, keys in
    the order given, non-ASCII text as is, a final newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
