"""eventclip.retry: the one backoff policy and its adapters."""

from __future__ import annotations

import asyncio
import logging
import statistics

import pytest

from eventclip.retry import Backoff, FailureStreak, retry_async

LOG = logging.getLogger("eventclip.test_retry")


def test_delays_grow_by_the_multiplier_up_to_the_maximum() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0)
    assert [backoff.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert [Backoff(1, 100, multiplier=3).delay(n) for n in (1, 2, 3, 4, 5)] == [1, 3, 9, 27, 81]


def test_jitter_spreads_every_delay_also_at_the_maximum() -> None:
    backoff = Backoff(initial=1.0, maximum=4.0, jitter=0.2)
    for attempt, base in [(1, 1.0), (3, 4.0), (10, 4.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert len(set(delays)) > 150 and statistics.stdev(delays) > 0.05 * base


def test_a_clip_job_budget_attempt_n_failed_wait_delay_n_give_up_after_max() -> None:
    policy = Backoff(initial=1.0, maximum=60.0, max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3)] == [False, False, True]
    assert [policy.delay(n) for n in (1, 2)] == [1.0, 2.0]
    assert not Backoff().exhausted(1000)  # no max_attempts: forever


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": 2, "maximum": 1},
        {"multiplier": 0.5},
        {"jitter": 1.0},
        {"max_attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)


def test_a_failure_streak_counts_until_reset() -> None:
    streak = FailureStreak(Backoff(initial=0.5, maximum=2.0))
    assert [streak.failed() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert streak.failures == 4
    streak.reset()
    assert (streak.failed(), streak.failures) == (0.5, 1)


async def test_retry_async_retries_listed_exceptions_then_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError(f"down {calls}")
        return "up"

    caplog.set_level(logging.INFO)
    result = await retry_async(
        flaky, Backoff(0.01, 0.02), retry_on=(ConnectionError,), log=LOG, what="connect"
    )
    assert (result, calls) == ("up", 3)
    assert "connect 1 failed (ConnectionError('down 1')); retrying in 0.01 s" in caplog.text
    assert "connect 2 failed (ConnectionError('down 2')); retrying in 0.02 s" in caplog.text


async def test_retry_async_gives_up_after_max_attempts_with_the_last_error() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError(f"down {calls}")

    with pytest.raises(ConnectionError, match="down 3"):
        await retry_async(broken, Backoff(0.01, 0.01, max_attempts=3), retry_on=(ConnectionError,))
    assert calls == 3


async def test_retry_async_lets_other_exceptions_through_at_once() -> None:
    calls = 0

    async def wrong() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await retry_async(wrong, Backoff(0.01, 0.01), retry_on=(ConnectionError,))
    assert calls == 1


async def test_retry_async_polls_a_result_until_it_is_good_or_time_is_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = iter(range(100))

    async def count() -> int:
        return next(values)

    assert await retry_async(count, Backoff(0.001, 0.001), until=lambda n: n >= 3) == 3
    # Out of time: the last result, not an exception.
    last = await retry_async(
        count, Backoff(0.01, 0.01), until=lambda n: n > 1000, give_up_after=0.05
    )
    assert 4 <= last < 100

    # Attempts made elsewhere count: the first call waits delay(2) and the
    # numbering goes on from 3.
    caplog.set_level(logging.INFO)
    await retry_async(
        count,
        Backoff(0.001, 0.01),
        until=lambda n: n > last + 2,
        attempts_before=2,
        log=LOG,
        what="round",
    )
    assert "round 3 left work undone; retrying in 0.004 s" in caplog.text
    assert "round 1 " not in caplog.text


async def test_retry_async_awaits_what_a_plain_callable_returns() -> None:
    values = iter(range(10))

    def next_value() -> int:
        return next(values)

    result = await retry_async(
        lambda: asyncio.to_thread(next_value), Backoff(0.001, 0.001), until=lambda n: n == 2
    )
    assert result == 2


async def test_retry_async_is_cancelled_while_it_waits() -> None:
    async def never() -> bool:
        return False

    task = asyncio.create_task(retry_async(never, Backoff(10, 10), until=bool))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
