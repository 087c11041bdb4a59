"""One retry policy for the suite: capped exponential backoff with jitter, on
tenacity's wait and stop strategies, and the ways our code waits between tries.

- ``Backoff``: the policy. ``delay(n)`` is the wait after the n-th failed
  attempt, ``exhausted(n)`` says whether attempt n was the last. Code that
  keeps its retry state elsewhere (a clip job stores its next attempt time in
  the database) needs only these two.
- ``FailureStreak``: for a thread that retries until stopped (a camera
  reconnecting): counts consecutive failures, ``reset()`` after a success.
- ``retry_async``: call a coroutine until its result is good, an attempt budget
  or a time budget runs out (tenacity.AsyncRetrying underneath).

Delays: ``initial x multiplier^(n-1)`` capped at ``maximum`` (tenacity's
``wait_exponential``), then scaled by a random factor in
``[1 - jitter, 1 + jitter]``, so that clients failed by one outage do not
retry in lockstep ("Exponential Backoff And Jitter", AWS Architecture Blog,
2015). The jitter applies after the cap, so it keeps spreading retries that
have reached ``maximum``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity
from tenacity.stop import stop_base
from tenacity.wait import wait_base

T = TypeVar("T")

__all__ = ["Backoff", "FailureStreak", "retry_async"]


@dataclass(frozen=True)
class Backoff:
    """Retry delays and budget.

    ``initial``: seconds to wait after the first failed attempt; each later
    wait is ``multiplier`` times the one before, up to ``maximum`` seconds;
    ``jitter``: fraction (0 <= jitter < 1) by which a wait is randomly
    stretched or shrunk; ``max_attempts``: attempts in all, first included
    (None: retry forever). Raises ValueError for values out of range.
    """

    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {self}")
        if self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise ValueError(f"backoff needs multiplier >= 1 and 0 <= jitter < 1, got {self}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"backoff needs max_attempts >= 1, got {self}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after attempt number ``attempt`` (1 = the first)
        failed, before the next one. Raises ValueError for ``attempt`` < 1."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        return self.wait_strategy()(_attempt_state(attempt))

    def exhausted(self, attempt: int) -> bool:
        """True when attempt number ``attempt`` was the last one allowed."""
        return self.max_attempts is not None and attempt >= self.max_attempts

    def wait_strategy(self, attempts_before: int = 0) -> wait_base:
        """The tenacity wait strategy of this policy; ``attempts_before``:
        attempts made before tenacity's first (its attempt 1 is ours
        ``attempts_before + 1``)."""
        exponential = tenacity.wait_exponential(
            multiplier=self.initial, max=self.maximum, exp_base=self.multiplier
        )
        return _Jittered(exponential, self.jitter, attempts_before)

    def stop_strategy(self, attempts_before: int = 0) -> stop_base:
        """The tenacity stop strategy for ``max_attempts`` (see wait_strategy)."""
        if self.max_attempts is None:
            return tenacity.stop_never
        return tenacity.stop_after_attempt(max(self.max_attempts - attempts_before, 1))


class _Jittered(wait_base):
    """``inner`` shifted by ``offset`` attempts, times uniform(1 - jitter, 1 + jitter)."""

    def __init__(self, inner: wait_base, jitter: float, offset: int) -> None:
        self.inner, self.jitter, self.offset = inner, jitter, offset

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        if self.offset:
            retry_state = _attempt_state(retry_state.attempt_number + self.offset)
        base = self.inner(retry_state)
        if not self.jitter:
            return base
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


def _attempt_state(attempt: int) -> tenacity.RetryCallState:
    """A tenacity call state at attempt number ``attempt`` (what wait strategies read)."""
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return state


class FailureStreak:
    """Consecutive failures of something retried until its thread is stopped
    (a camera's reconnects). Not thread-safe: one thread owns it."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        #: Failures since the last success.
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the seconds to wait before trying again (wait
        with ``threading.Event.wait`` so that a stop cuts the wait short)."""
        self.failures += 1
        return self.backoff.delay(self.failures)

    def reset(self) -> None:
        """A success: the next failure waits ``backoff.initial`` again."""
        self.failures = 0


async def retry_async(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    until: Callable[[T], bool] | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    give_up_after: float | None = None,
    attempts_before: int = 0,
    log: logging.Logger | None = None,
    what: str = "attempt",
) -> T:
    """Await ``attempt()`` until it returns a result for which ``until`` holds
    (any result when ``until`` is None), and return that result.

    A result failing ``until``, or an exception of a type in ``retry_on``, is a
    failed attempt: after attempt n fails, wait ``backoff.delay(n)`` seconds
    (asyncio.sleep, so cancellation ends the wait). ``attempts_before``:
    attempts already made elsewhere (the first call then waits
    ``backoff.delay(attempts_before)`` first and numbering goes on from there).
    When ``backoff.max_attempts`` attempts were made, or ``give_up_after``
    seconds have passed since the call (checked after each attempt), returns
    the last result or raises the last exception. Other exceptions propagate at once.
    ``log``: where failed attempts are logged (warning, ``what`` names them).
    """
    if attempts_before:
        await asyncio.sleep(backoff.delay(attempts_before))
    stop = backoff.stop_strategy(attempts_before)
    if give_up_after is not None:
        stop = stop | tenacity.stop_after_delay(give_up_after)
    retry: Any = tenacity.retry_if_exception_type(retry_on)
    if until is not None:
        retry = retry | tenacity.retry_if_not_result(until)
    retrying = tenacity.AsyncRetrying(
        wait=backoff.wait_strategy(attempts_before),
        stop=stop,
        retry=retry,
        sleep=asyncio.sleep,
        before_sleep=_log_failure(log, what, attempts_before) if log else None,
        retry_error_callback=_last_outcome,
    )

    async def call() -> T:
        # tenacity awaits only coroutine functions; ``attempt`` may be a
        # lambda returning an awaitable.
        return await attempt()

    return await retrying(call)


def _last_outcome(state: tenacity.RetryCallState) -> Any:
    """What the last attempt gave: its result, or its exception raised again."""
    assert state.outcome is not None
    return state.outcome.result()


def _log_failure(
    log: logging.Logger, what: str, attempts_before: int
) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        number = state.attempt_number + attempts_before
        if state.outcome.failed:
            err = state.outcome.exception()
            log.warning(
                "%s %d failed (%r); retrying in %.3g s",
                what,
                number,
                err,
                state.next_action.sleep,
                exc_info=err,
            )
        else:
            log.info(
                "%s %d left work undone; retrying in %.3g s", what, number, state.next_action.sleep
            )

    return before_sleep
