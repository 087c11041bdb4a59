"""Credentials out of every text that leaves a process.

Camera URLs carry passwords (``rtsp://admin:PASSWORD@10.0.0.21/stream1``), and
FFmpeg puts the URL it was given into its error texts, which then travel into
camera status, clip failure reasons, gRPC status messages, traces and logs.
Redacting at the source (``SourceError``) keeps them out of all of those; the
log formatter (``eventclip.logs``) redacts every line again, tracebacks
included, for whatever an exception carried past it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: ``scheme://user:password@`` in any text; the password may hold anything but
#: whitespace, quotes and '@' (RFC 3986 userinfo percent-encodes those).
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@:'\"]*:)[^\s@'\"]+@")


def redact_credentials(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\g<head>***@", text)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for status and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
