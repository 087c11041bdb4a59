"""Fuzzing the REST API: schemathesis generates requests from the gateway's own
OpenAPI document and sends them to the real gateway and services (``eventclip
run`` as a process, on the real PostgreSQL, a synthetic camera buffering),
with an admin key, requests that fit the document and requests that break it. No answer may be a
server error (``not_a_server_error``), every documented answer must match its
schema (``response_schema_conformance``), and the service's log must hold no
traceback. Bounded: ``EXAMPLES`` cases per operation and mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from conftest import fresh_postgres_schema
from hypothesis import HealthCheck, settings
from processes import secured_run
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from eventclip.config import load_settings
from eventclip.gateway.app import create_app

EXAMPLES = 40

# The document the gateway serves, built the same way (no server needed to load it).
schema = schemathesis.openapi.from_dict(create_app(load_settings(data_dir="unused")).openapi())
# Requests that fit the schema and requests that break it (wrong types, missing
# fields, out-of-range values), NUL bytes in strings included.
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    allow_x00=True,
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """(the gateway's URL, headers with an admin key) of a suite that requires keys."""
    with (
        fresh_postgres_schema("fuzz") as database_url,
        secured_run(tmp_path_factory.mktemp("fuzz"), database_url) as (suite, key),
    ):
        yield suite.http, {"authorization": f"Bearer {key}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_answers_match_the_schema(case, gateway) -> None:  # type: ignore[no-untyped-def]
    base_url, headers = gateway
    case.call_and_validate(
        base_url=base_url,
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )
