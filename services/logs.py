"""Structured logging: JSON lines (python-json-logger) or plain text on a TTY.

``EVENTCLIP_LOG_FORMAT=json|text`` forces one; extra fields given with
``log.info("...", extra={...})`` appear as JSON keys. Every line has URL
passwords redacted (``RedactingFormatter``).
"""

from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter

from eventclip.redact import redact_credentials


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and redacts URL passwords from every line it
    makes, message, arguments and traceback alike (eventclip.redact)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact_credentials(self.inner.format(record))


class CancelledStreamDetachFilter(logging.Filter):
    """Drops OpenTelemetry's "Failed to detach context" error for a server
    stream the client cancelled. The gRPC instrumentation keeps a span's
    context open across the stream handler's ``yield``, and an async generator
    closed from another context cannot reset it; the span still ends and
    nothing is lost, but every cancelled ReadWindow or SampleFrames would log
    an ERROR with a traceback (opentelemetry-python-contrib issue #2357, open)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (
            record.getMessage() == "Failed to detach context"
            and isinstance(error, ValueError)
            and "was created in a different Context" in str(error)
        )


def setup_logging(level: str = "INFO") -> None:
    fmt = os.environ.get("EVENTCLIP_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler(sys.stderr)
    inner: logging.Formatter
    if fmt == "json":
        inner = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handler.setFormatter(RedactingFormatter(inner))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its own plugins at INFO on every start-up.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("opentelemetry.context").addFilter(CancelledStreamDetachFilter())
    # FFmpeg's own log callback serialises threads (PyAV docs); keep it off.
    import av.logging

    av.logging.set_level(None)
