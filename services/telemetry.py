"""OpenTelemetry set-up from the standard ``OTEL_*`` environment variables.

``OTEL_TRACES_EXPORTER``: ``otlp`` (OTLP/gRPC to ``OTEL_EXPORTER_OTLP_ENDPOINT``),
``console`` or ``none``. When unset it is ``otlp`` if an endpoint is set, else
``none`` (no collector, no export noise). ``OTEL_SERVICE_NAME`` wins over the
name passed here. Batch export is tuned by ``OTEL_BSP_*`` as usual.
"""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

log = logging.getLogger(__name__)
_provider: TracerProvider | None = None


def setup_tracing(service_name: str) -> TracerProvider:
    """Install the global TracerProvider once per process and return it."""
    global _provider
    if _provider is not None:
        return _provider
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    default = "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "none"
    for name in os.environ.get("OTEL_TRACES_EXPORTER", default).split(","):
        name = name.strip()
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name not in ("none", ""):
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored", name)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop exporters (call on shutdown so the last spans are sent)."""
    if _provider is not None:
        _provider.shutdown()
