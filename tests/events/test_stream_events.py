"""StreamEvents over real gRPC: one answer per event in request order, an
event's own error without ending the stream, idempotency as SubmitEvent, and
flow control (a client that stops reading holds the server back instead of
being queued for without bound)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.type.money_pb2 import Money
from sqlalchemy import func, select

from eventclip.events.models import PosEventRecord
from eventclip.events.streaming import answers_in_order
from eventclip.v1 import events_pb2, events_pb2_grpc

from .harness import Events, refund, running


def sale(n: int, **fields: object) -> events_pb2.PosEvent:
    return refund(
        event_id=f"sale-{n}",
        type=events_pb2.PosEvent.SALE,
        amount=Money(currency_code="USD", units=3),
        **fields,
    )


def requests(*events: events_pb2.PosEvent) -> list[events_pb2.StreamEventsRequest]:
    return [events_pb2.StreamEventsRequest(event=e) for e in events]


async def stream(
    events: Events, *sent: events_pb2.PosEvent
) -> list[events_pb2.StreamEventsResponse]:
    call = events.stub.StreamEvents(iter(requests(*sent)), timeout=60)
    return [answer async for answer in call]


def stored(events: Events) -> int:
    with events.service.processor.store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(PosEventRecord)).scalar_one()


async def test_answers_come_in_order_and_one_bad_event_does_not_end_the_stream(
    events: Events,
) -> None:
    bad_time = sale(5)
    bad_time.ClearField("occurred_at")
    first = [sale(n) for n in range(5)]
    sent = [
        *first,
        bad_time,
        sale(6, register_id="till-9"),
        refund(event_id="big-refund"),
        first[0],  # again: replayed
        *(sale(n) for n in range(7, 100)),
    ]
    answers = await stream(events, *sent)
    assert [a.event_id for a in answers] == [e.event_id for e in sent]
    assert answers[5].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert answers[5].error.message == "event.occurred_at is required"
    assert answers[6].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "register till-9 is not configured" in answers[6].error.message
    alert = answers[7].response.alert
    assert alert.event_id == "big-refund" and alert.risk_score == 0.5
    assert answers[8].response.replayed
    ok = [a for i, a in enumerate(answers) if i not in (5, 6)]
    assert all(a.WhichOneof("result") == "response" for a in ok)
    assert [a.event_id for a in await events.alerts()] == ["big-refund"]
    # The same event under the same id with other content: its own error.
    changed = sale(1, operator_id="someone-else")
    [conflict] = await stream(events, changed)
    assert conflict.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]


async def test_a_client_that_stops_reading_holds_the_server_back(tmp_path: Path) -> None:
    from .harness import make_settings

    total = 3000
    async with running(make_settings(tmp_path)) as events:
        # No BDP probing: the client's receive window stays at gRPC's 64 KiB,
        # so unread answers fill it soon.
        options = [("grpc.http2.bdp_probe", 0)]
        target = f"127.0.0.1:{events.service.port}"
        async with grpc.aio.insecure_channel(target, options=options) as channel:
            stub = events_pb2_grpc.EventServiceStub(channel)
            call = stub.StreamEvents()

            async def write_all() -> None:
                for n in range(total):
                    await call.write(events_pb2.StreamEventsRequest(event=sale(n)))
                await call.done_writing()

            writer = asyncio.create_task(write_all())
            plateau = []
            for _ in range(20):  # until the server stops taking more
                await asyncio.sleep(0.5)
                plateau.append(await asyncio.to_thread(stored, events))
                if len(plateau) >= 3 and plateau[-1] == plateau[-3]:
                    break
            held_back = plateau[-1]
            assert plateau[-1] == plateau[-3], plateau  # no progress while unread
            assert 0 < held_back < total / 2, plateau
            answers = [answer async for answer in call]  # read: everything completes
            await writer
    assert [a.event_id for a in answers] == [f"sale-{n}" for n in range(total)]
    assert all(a.WhichOneof("result") == "response" for a in answers)


async def test_cancelling_a_stream_leaves_the_service_working(events: Events) -> None:
    call = events.stub.StreamEvents(iter(requests(*(sale(1000 + n) for n in range(200)))))
    first = await call.read()
    assert first.event_id == "sale-1000"
    call.cancel()
    await asyncio.sleep(0.2)
    response = await events.submit(refund(event_id="after-cancel"))
    assert response.HasField("alert")


async def test_answers_in_order_when_later_requests_finish_first() -> None:
    async def source():  # type: ignore[no-untyped-def]
        for delay in (0.05, 0.0, 0.03, 0.0):
            yield delay

    async def handle(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    assert [a async for a in answers_in_order(source(), handle, window=4)] == [
        0.05,
        0.0,
        0.03,
        0.0,
    ]


async def test_answers_in_order_reads_no_more_than_the_window_ahead() -> None:
    read = 0
    release = asyncio.Event()

    async def source():  # type: ignore[no-untyped-def]
        nonlocal read
        for n in range(100):
            read += 1
            yield n

    async def handle(n: int) -> int:
        await release.wait()
        return n

    answers = answers_in_order(source(), handle, window=8)
    first = asyncio.ensure_future(answers.__anext__())
    await asyncio.sleep(0.05)
    # The window, the one being answered, and the one waiting for a slot.
    assert read <= 8 + 2
    release.set()
    assert await first == 0
    assert [a async for a in answers] == list(range(1, 100))
    await answers.aclose()


async def test_a_broken_request_stream_raises_after_the_answers_due() -> None:
    async def source():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise ConnectionError("client went away")

    async def handle(n: int) -> int:
        return n * 10

    got = []
    with pytest.raises(ConnectionError):
        async for answer in answers_in_order(source(), handle):
            got.append(answer)
    assert got == [10, 20]
