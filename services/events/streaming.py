"""Answers to a stream of requests in the order they came, several worked on at
once, reading no further ahead than a window (StreamEvents).

gRPC's own flow control holds back a client whose requests are not read, so
bounding what is read bounds what the server holds: at most ``window``
requests are being handled, and the next is read only when the oldest one's
answer is taken. Answers leave in request order even when later requests
finish first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")

#: Requests of one stream handled at once (StreamEvents' documented 64).
DEFAULT_WINDOW = 64

_END = object()


async def answers_in_order(
    requests: AsyncIterable[Request],
    handle: Callable[[Request], Awaitable[Answer]],
    window: int = DEFAULT_WINDOW,
) -> AsyncIterator[Answer]:
    """``handle(request)`` for each request, up to ``window`` at once, yielded
    in request order. ``handle`` must not raise for one request's failure
    (turn it into an answer); an error reading ``requests`` (the client went
    away) is raised after the answers already due. Closing the generator
    cancels what is still being handled."""
    if window < 1:
        raise ValueError("window must be at least 1")
    # Each slot: the task of one request, in request order; the reader blocks
    # on a full queue, which is the flow control.
    slots: asyncio.Queue[object] = asyncio.Queue(maxsize=window)

    async def read() -> None:
        try:
            async for request in requests:
                await slots.put(asyncio.ensure_future(handle(request)))
        except Exception as err:  # the stream broke: say so after what is due
            await slots.put(err)
        await slots.put(_END)

    reader = asyncio.create_task(read())
    try:
        while (slot := await slots.get()) is not _END:
            if isinstance(slot, Exception):
                raise slot
            yield await slot  # type: ignore[misc]
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        while not slots.empty():
            leftover = slots.get_nowait()
            if isinstance(leftover, asyncio.Future):
                leftover.cancel()
