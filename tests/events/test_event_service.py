"""EventService over real gRPC on loopback (port 0), with its real database.

The clipper target points at a closed port unless a test starts the real
clipper: the events service must raise and store alerts all the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pluggy
import pytest
from google.type.money_pb2 import Money
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventclip import hookimpl
from eventclip.events import messages
from eventclip.events.plugins import create_plugin_manager
from eventclip.events.store import EventStore
from eventclip.events.types import RiskScore
from eventclip.timeutil import utcnow
from eventclip.v1 import events_pb2

from .harness import (
    BUILTIN_RULES,
    CAMERAS,
    REASON,
    REGISTER,
    Events,
    make_settings,
    refund,
    running,
    status_of,
)

# -- validation -----------------------------------------------------------------


def _without(field: str) -> events_pb2.PosEvent:
    event = refund()
    event.ClearField(field)
    return event


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (None, "event is required"),
        (_without("event_id"), "event.event_id"),
        (refund(event_id="has space"), "event.event_id"),
        (refund(event_id="x" * 129), "event.event_id"),
        (_without("type"), "event.type"),
        (_without("store_id"), "event.store_id"),
        (_without("register_id"), "event.register_id"),
        (_without("occurred_at"), "event.occurred_at"),
        (_without("amount"), "event.amount is required for a REFUND"),
        (refund(type=events_pb2.PosEvent.SALE, amount=None), "event.amount is required for a SALE"),
        (refund(amount=Money(currency_code="usd", units=5)), "event.amount.currency_code"),
        (refund(amount=Money(currency_code="", units=5)), "event.amount.currency_code"),
        (refund(amount=Money(currency_code="USD", units=-500)), "event.amount.units"),
        (refund(amount=Money(currency_code="USD", nanos=-1)), "event.amount.nanos"),
        (refund(amount=Money(currency_code="USD", nanos=1_000_000_000)), "event.amount.nanos"),
        (refund(store_id="s" * 129), "event.store_id"),
        (refund(attributes={"k": "v" * 2000}), "event.attributes"),
    ],
)
async def test_bad_fields_are_invalid_argument_naming_the_field(
    events: Events, event: events_pb2.PosEvent | None, field: str
) -> None:
    request = events_pb2.SubmitEventRequest(event=event)
    code, message = await status_of(events.stub.SubmitEvent(request, timeout=5))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in message
    assert await events.alerts() == []


async def test_unknown_register_is_not_found(events: Events) -> None:
    code, message = await status_of(events.submit(refund(register_id="r9")))
    assert (code, message) == (
        grpc.StatusCode.NOT_FOUND,
        f"register r9 is not configured; known: {REGISTER}",
    )


async def test_no_sale_without_amount_is_scored_and_low_risk(events: Events) -> None:
    response = await events.submit(refund(type=events_pb2.PosEvent.NO_SALE, amount=None))
    assert response.assessment.risk_score == 0.0
    assert response.assessment.threshold == pytest.approx(0.4)
    assert not response.HasField("alert") and not response.replayed


async def test_small_refund_raises_no_alert(events: Events) -> None:
    response = await events.submit(refund(amount=Money(currency_code="USD", units=100)))
    assert list(response.assessment.results) == []
    assert not response.HasField("alert")
    assert await events.alerts() == []


# -- alerts with the clipper down -------------------------------------------------


async def test_refund_raises_a_stored_alert_although_the_clipper_is_down(events: Events) -> None:
    event = refund()
    response = await events.submit(event)
    assert response.assessment.risk_score == 0.5
    assert [(r.rule, r.score, r.reason) for r in response.assessment.results] == [
        ("refund_without_approval", 0.5, REASON)
    ]
    assert list(response.assessment.failed_rules) == []
    alert = response.alert
    assert alert.id and alert.event_id == event.event_id
    assert (alert.store_id, alert.register_id, alert.risk_score) == ("s1", REGISTER, 0.5)
    assert list(alert.clip_ids) == list(response.clip_ids) == []  # clipper unreachable
    assert alert.occurred_at == event.occurred_at
    assert alert.event == event

    got = await events.stub.GetAlert(events_pb2.GetAlertRequest(id=alert.id), timeout=5)
    assert got == alert
    # The cameras stay pending for the background retry.
    store: EventStore = events.service.processor.store
    pending = await asyncio.to_thread(store.alerts_with_pending_clips)
    assert [(a.id, a.pending_cameras) for a in pending] == [(alert.id, CAMERAS)]
    # And the service keeps answering.
    assert (await events.submit(refund())).alert.id


async def test_get_alert_errors(events: Events) -> None:
    code, message = await status_of(events.stub.GetAlert(events_pb2.GetAlertRequest(id="nope")))
    assert (code, message) == (grpc.StatusCode.NOT_FOUND, "alert nope does not exist")
    code, _ = await status_of(events.stub.GetAlert(events_pb2.GetAlertRequest()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# -- idempotency --------------------------------------------------------------------


@pytest.fixture
async def events_db(tmp_path: Path, database_url: str) -> AsyncIterator[Events]:
    async with running(make_settings(tmp_path, database_url)) as events:
        yield events


async def test_retry_replays_the_first_response_and_creates_nothing(events_db: Events) -> None:
    event = refund()
    first = await events_db.submit(event)
    retry = await events_db.submit(event)
    assert not first.replayed and retry.replayed
    retry.replayed = False
    assert retry == first
    assert [a.id for a in await events_db.alerts()] == [first.alert.id]


async def test_same_event_id_with_other_content_is_already_exists(events_db: Events) -> None:
    event = refund()
    await events_db.submit(event)
    changed = events_pb2.PosEvent()
    changed.CopyFrom(event)
    changed.amount.units = 7
    code, message = await status_of(events_db.submit(changed))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert f"event_id {event.event_id} was already used for a different event" in message
    assert len(await events_db.alerts()) == 1


async def test_concurrent_duplicates_yield_one_alert(events_db: Events) -> None:
    event = refund()
    responses = await asyncio.gather(*(events_db.submit(event) for _ in range(8)))
    assert sorted(r.replayed for r in responses) == [False] + [True] * 7
    assert len({r.alert.id for r in responses}) == 1
    assert [a.id for a in await events_db.alerts()] == [responses[0].alert.id]


async def test_retry_after_a_crash_midway_finishes_the_event(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    event = refund()
    # A first attempt that claimed the event_id and died before storing anything else.
    store = await asyncio.to_thread(EventStore.open, settings.effective_database_url)
    try:
        claim = messages.to_record(event, utcnow() - timedelta(minutes=5))
        assert await asyncio.to_thread(store.claim, claim) is None
    finally:
        store.close()
    async with running(settings) as events:
        started = time.monotonic()
        response = await events.submit(event)
        assert time.monotonic() - started < 5, "a stale claim is finished, not waited on"
        assert response.replayed
        assert response.alert.risk_score == 0.5
        again = await events.submit(event)
        assert again == response
        assert [a.id for a in await events.alerts()] == [response.alert.id]


# -- plugins inside the service -------------------------------------------------


class Explodes:
    @hookimpl
    def score_event(self, event, options):
        raise ZeroDivisionError("rule bug")


class Sleeps:
    @hookimpl
    async def score_event(self, event, options):
        await asyncio.sleep(10)


class SmallRisk:
    @hookimpl
    def score_event(self, event, options):
        return RiskScore(0.2, "small")


@pytest.fixture
def plugin_manager() -> Iterator[pluggy.PluginManager]:
    pm = create_plugin_manager(BUILTIN_RULES)
    throwaway = {"explodes": Explodes(), "sleeps": Sleeps(), "small_risk": SmallRisk()}
    for name, plugin in throwaway.items():
        pm.register(plugin, name=name)
    try:
        yield pm
    finally:
        for name in throwaway:
            pm.unregister(name=name)


async def test_failing_plugins_are_reported_and_the_others_still_score(
    tmp_path: Path, plugin_manager: pluggy.PluginManager
) -> None:
    async with running(make_settings(tmp_path), plugin_manager) as events:
        response = await events.submit(refund())
        assert sorted(response.assessment.failed_rules) == ["explodes", "sleeps"]
        assert [(r.rule, r.score) for r in response.assessment.results] == [
            ("refund_without_approval", 0.5),
            ("small_risk", 0.2),
        ]
        assert response.assessment.risk_score == pytest.approx(0.6)  # 1 - 0.5 * 0.8
        assert response.alert.risk_score == response.assessment.risk_score
        counts = events.service.processor.runner.failure_counts
        assert (counts["explodes"], counts["sleeps"]) == (1, 1)
        # Below the threshold with the built-in off: the small rule alone is 0.2.
        response = await events.submit(refund(approver_id="mgr-1"))
        assert response.assessment.risk_score == pytest.approx(0.2)
        assert not response.HasField("alert")


async def test_allowlist_from_settings_disables_the_builtin_rule(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path, plugins=[])) as events:
        response = await events.submit(refund())
        assert list(response.assessment.results) == []
        assert not response.HasField("alert")


async def test_rule_options_and_threshold_from_settings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        risk_threshold=0.6,
        rules={"refund_without_approval": {"min_amount": "50", "score": 0.6}},
    )
    async with running(settings) as events:
        response = await events.submit(refund(amount=Money(currency_code="USD", units=60)))
        assert response.assessment.risk_score == 0.6
        assert response.assessment.threshold == 0.6
        assert response.alert.id  # at the threshold raises


# -- listing ----------------------------------------------------------------------


async def test_list_alerts_pages_newest_first_and_filters(events: Events) -> None:
    ids = []
    for i in range(5):
        response = await events.submit(refund(store_id="s2" if i == 4 else "s1"))
        ids.append(response.alert.id)
    newest_first = ids[::-1]
    seen, token = [], ""
    while True:
        page = await events.stub.ListAlerts(
            events_pb2.ListAlertsRequest(page_size=2, page_token=token), timeout=5
        )
        seen += [a.id for a in page.alerts]
        token = page.next_page_token
        if not token:
            break
    assert seen == newest_first
    assert [a.id for a in await events.alerts(store_id="s2")] == [ids[4]]
    assert [a.id for a in await events.alerts(register_id="other")] == []
    default = await events.stub.ListAlerts(events_pb2.ListAlertsRequest(), timeout=5)
    assert [a.id for a in default.alerts] == newest_first and not default.next_page_token


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"page_token": "garbage!"}, "page_token is invalid"),
        ({"page_size": -1}, "page_size must not be negative"),
    ],
)
async def test_list_alerts_rejects_bad_requests(
    events: Events, request_fields: dict[str, Any], message: str
) -> None:
    code, details = await status_of(
        events.stub.ListAlerts(events_pb2.ListAlertsRequest(**request_fields), timeout=5)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and message in details


async def test_page_token_is_bound_to_its_filters(events: Events) -> None:
    for _ in range(2):
        await events.submit(refund())
    page = await events.stub.ListAlerts(events_pb2.ListAlertsRequest(page_size=1), timeout=5)
    code, details = await status_of(
        events.stub.ListAlerts(
            events_pb2.ListAlertsRequest(page_token=page.next_page_token, store_id="s9")
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "different" in details


# -- tracing ------------------------------------------------------------------------


async def test_scoring_span_carries_event_and_risk(
    events: Events, spans: InMemorySpanExporter
) -> None:
    event = refund()
    await events.submit(event)
    finished = spans.get_finished_spans()
    score = next(s for s in finished if s.name == "events.score_event")
    assert score.attributes["eventclip.event_id"] == event.event_id
    assert score.attributes["eventclip.event_type"] == "REFUND"
    assert score.attributes["eventclip.risk_score"] == 0.5
    server = next(s for s in finished if s.name.endswith("EventService/SubmitEvent"))
    assert score.context.trace_id == server.context.trace_id
    assert score.parent is not None and score.parent.span_id == server.context.span_id
