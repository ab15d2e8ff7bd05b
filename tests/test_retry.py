"""Retry decisions, waits, the budget and cancellation, with a recording sleep (no waiting)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from asyncsdk import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    DecodeError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from asyncsdk.retry import Retrier, RetryBudget, backoff_delay, retry_reason

URL = "https://api.bird.test/x"


def server_error(status: int = 503, retry_after: float | None = None) -> ServerError:
    return ServerError(f"{status}", method="GET", url=URL, status=status, retry_after=retry_after)


def throttled(retry_after: float | None) -> RateLimitError:
    return RateLimitError("429", method="GET", url=URL, status=429, retry_after=retry_after)


def not_found() -> NotFoundError:
    return NotFoundError("404", method="GET", url=URL, status=404)


def timeout() -> APITimeoutError:
    return APITimeoutError("timed out", method="GET", url=URL)


class Script:
    """An attempt function that raises the scripted errors, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def retrier(
    policy: RetryPolicy | None = None,
    budget: RetryBudget | None = None,
    rand: Callable[[], float] = lambda: 1.0,
) -> tuple[Retrier, Sleeps, list[str]]:
    policy = policy or RetryPolicy()
    sleeps = Sleeps()
    reasons: list[str] = []
    r = Retrier(
        policy,
        budget or RetryBudget(policy.budget),
        sleep=sleeps,
        rand=rand,
        on_retry=reasons.append,
    )
    return r, sleeps, reasons


# --- pure decisions ---


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (server_error(500), "500"),
        (server_error(502), "502"),
        (server_error(503), "503"),
        (server_error(504), "504"),
        (server_error(408), "408"),
        (throttled(1.0), "429"),
        (timeout(), "timeout"),
        (APIConnectionError("reset", method="GET", url=URL), "connection"),
        (not_found(), None),
        (server_error(501), None),
        (DecodeError("bad", method="GET", url=URL, path="$", body=b""), None),
        (throttled(61.0), None),  # longer than max_retry_after: surface it
        (ValueError("x"), None),
        (asyncio.CancelledError(), None),
        (KeyboardInterrupt(), None),
    ],
)
def test_retry_reason(exc: BaseException, reason: str | None) -> None:
    assert retry_reason(exc, RetryPolicy()) == reason


def test_backoff_is_full_jitter_doubling_and_capped() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8.0)
    assert [backoff_delay(n, policy, lambda: 1.0) for n in range(1, 8)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
        8.0,
    ]
    assert backoff_delay(3, policy, lambda: 0.25) == 0.5
    assert backoff_delay(3, policy, lambda: 0.0) == 0.0


def test_budget_takes_a_token_per_failure_and_stops_retries_at_half() -> None:
    budget = RetryBudget(10)
    policy = RetryPolicy()
    for _ in range(4):
        budget.record(server_error(503), policy)
    assert budget.available == 6
    assert budget.allows_retry
    budget.record(timeout(), policy)
    assert budget.available == 5
    assert not budget.allows_retry  # half or fewer left
    budget.record(not_found(), policy)  # an answer, even a 404: the server is up
    assert budget.available == 6
    assert budget.allows_retry
    for _ in range(20):
        budget.refill()
    assert budget.available == 10  # never above capacity
    assert RetryBudget(0).allows_retry  # 0 disables the budget


def test_throttling_neither_takes_nor_gives_tokens() -> None:
    budget = RetryBudget(10)
    policy = RetryPolicy()
    budget.record(server_error(503), policy)
    for exc in (throttled(1.0), throttled(None), server_error(503, retry_after=2.0)):
        budget.record(exc, policy)
    assert budget.available == 9


@pytest.mark.parametrize("failure_share", [0.1, 0.25, 0.35, 0.45])
def test_a_brownout_never_stops_retries(failure_share: float) -> None:
    """Below half the attempts failing, tokens drift up: retries always allowed."""
    budget = RetryBudget(500)
    policy = RetryPolicy()
    period = 20
    failing = round(failure_share * period)
    for i in range(20_000):
        if i % period < failing:  # failures in runs, the worst order
            budget.record(server_error(503), policy)
        else:
            budget.refill()
        assert budget.allows_retry


def test_an_outage_stops_retries_after_half_the_budget_and_recovers() -> None:
    budget = RetryBudget(500)
    policy = RetryPolicy()
    allowed = 0
    for _ in range(10_000):  # every attempt fails
        budget.record(server_error(503), policy)
        allowed += budget.allows_retry
    assert allowed == 249  # 499 .. 251 tokens left: about one retry per failed attempt
    recovered = 0
    while not budget.allows_retry:
        budget.refill()
        recovered += 1
    assert recovered == 251  # answers give the retries back by themselves


# --- the retrier ---


async def test_success_on_first_attempt_never_sleeps() -> None:
    r, sleeps, _ = retrier()
    assert await r.run(Script(), deadline=None) == "ok"
    assert sleeps.waits == []


async def test_retries_transient_errors_with_backoff_then_succeeds() -> None:
    r, sleeps, reasons = retrier()
    script = Script(server_error(503), timeout(), server_error(502))
    assert await r.run(script, deadline=None) == "ok"
    assert script.calls == 4
    assert sleeps.waits == [0.5, 1.0, 2.0]
    assert reasons == ["503", "timeout", "502"]


async def test_gives_up_after_max_retries_saying_how_many_attempts() -> None:
    r, sleeps, _ = retrier(RetryPolicy(max_retries=3))
    script = Script(*[server_error(500) for _ in range(10)])
    with pytest.raises(ServerError) as info:
        await r.run(script, deadline=None)
    assert script.calls == 4
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert len(sleeps.waits) == 3


@pytest.mark.parametrize("exc", [not_found(), server_error(501)])
async def test_non_retryable_errors_raise_at_once(exc: Exception) -> None:
    r, sleeps, _ = retrier()
    script = Script(exc)
    with pytest.raises(type(exc)):
        await r.run(script, deadline=None)
    assert script.calls == 1 and sleeps.waits == []


async def test_retry_after_overrides_backoff() -> None:
    r, sleeps, _ = retrier()
    script = Script(throttled(2.0), server_error(503, retry_after=0.75))
    assert await r.run(script, deadline=None) == "ok"
    assert sleeps.waits == [2.0, 0.75]


async def test_retry_after_beyond_the_cap_raises_at_once_with_the_value() -> None:
    r, sleeps, _ = retrier(RetryPolicy(max_retry_after=30.0))
    script = Script(throttled(3600.0))
    with pytest.raises(RateLimitError) as info:
        await r.run(script, deadline=None)
    assert info.value.retry_after == 3600.0
    assert script.calls == 1 and sleeps.waits == []


async def test_max_retries_zero_disables_retrying() -> None:
    r, sleeps, _ = retrier(RetryPolicy(max_retries=0))
    with pytest.raises(ServerError):
        await r.run(Script(server_error(503)), deadline=None)
    assert sleeps.waits == []


async def test_retries_stop_while_half_the_budget_or_less_is_left() -> None:
    policy = RetryPolicy(max_retries=3, budget=4)
    budget = RetryBudget(policy.budget)
    r, _, _ = retrier(policy, budget)
    script = Script(*[server_error(503) for _ in range(10)])
    with pytest.raises(ServerError) as info:
        await r.run(script, deadline=None)
    assert script.calls == 2  # 3 of 4 left after the first: retried; 2 of 4: stop
    assert info.value.attempts == 2
    assert budget.available == 2


async def test_throttled_retries_go_on_when_the_budget_is_low() -> None:
    policy = RetryPolicy(max_retries=3, budget=4)
    budget = RetryBudget(policy.budget)
    for _ in range(4):
        budget.spend()
    r, sleeps, _ = retrier(policy, budget)
    assert await r.run(Script(throttled(0.5), throttled(0.5)), deadline=None) == "ok"
    assert sleeps.waits == [0.5, 0.5]


async def test_each_attempt_takes_or_gives_back_its_token() -> None:
    policy = RetryPolicy(budget=100)
    budget = RetryBudget(policy.budget)
    for _ in range(10):
        budget.spend()
    r, _, _ = retrier(policy, budget)
    await r.run(Script(timeout(), server_error(503)), deadline=None)
    assert budget.available == 90 - 2 + 1


async def test_no_retry_that_would_outlive_the_deadline() -> None:
    r, sleeps, _ = retrier()
    loop = asyncio.get_running_loop()
    script = Script(throttled(5.0))
    with pytest.raises(RateLimitError):
        await r.run(script, deadline=loop.time() + 1.0)
    assert script.calls == 1 and sleeps.waits == []


async def test_cancellation_is_never_retried_or_wrapped() -> None:
    r, sleeps, _ = retrier()
    script = Script(server_error(503), asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await r.run(script, deadline=None)
    assert script.calls == 2 and sleeps.waits == [0.5]


async def test_cancellation_during_the_wait_propagates() -> None:
    policy = RetryPolicy()
    r = Retrier(policy, RetryBudget(policy.budget))  # real asyncio.sleep

    async def failing() -> str:
        raise server_error(503, retry_after=30.0)

    task = asyncio.create_task(r.run(failing, deadline=None))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_each_retry_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    r, _, _ = retrier()
    with caplog.at_level(logging.DEBUG, logger="asyncsdk"):
        await r.run(Script(server_error(503)), deadline=None)
    assert "retry 1/3 of GET https://api.bird.test/x after 503" in caplog.text
    assert "waiting 0.500s" in caplog.text


# --- throttling and max_retries: bounded by time, not by count ---


class Clock:
    """A fake clock that the recorded sleeps advance."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def timed_retrier(policy: RetryPolicy) -> tuple[Retrier, Clock]:
    clock = Clock()
    r = Retrier(policy, RetryBudget(policy.budget), sleep=clock.sleep, clock=clock)
    return r, clock


@pytest.mark.parametrize("retry_after", [1.0, 0.0, None])
async def test_throttled_answers_do_not_use_up_max_retries(retry_after: float | None) -> None:
    # With or without Retry-After: a 429 was not processed and can be retried.
    r, clock = timed_retrier(RetryPolicy(max_retries=3))
    script = Script(*[throttled(retry_after) for _ in range(12)])
    assert await r.run(script, deadline=None) == "ok"
    assert script.calls == 13
    assert len(clock.waits) == 12


async def test_a_503_with_retry_after_is_throttling_and_free_too() -> None:
    r, _ = timed_retrier(RetryPolicy(max_retries=1))
    script = Script(*[server_error(503, retry_after=1.0) for _ in range(5)])
    assert await r.run(script, deadline=None) == "ok"


async def test_other_failures_still_count_between_throttled_ones() -> None:
    r, _ = timed_retrier(RetryPolicy(max_retries=2))
    errors = [throttled(1.0), server_error(500), throttled(1.0), timeout(), throttled(1.0)]
    script = Script(*errors, server_error(502), *[throttled(1.0)] * 3)
    with pytest.raises(ServerError) as info:
        await r.run(script, deadline=None)
    assert script.calls == 6  # the third counted failure ends it
    assert info.value.attempts == 6


async def test_throttling_that_outlasts_max_throttle_wait_ends_the_call() -> None:
    r, clock = timed_retrier(RetryPolicy(max_retries=3, max_throttle_wait=10.0))
    script = Script(*[throttled(1.0) for _ in range(100)])
    with pytest.raises(RateLimitError) as info:
        await r.run(script, deadline=None)
    assert sum(clock.waits) <= 10.0
    assert script.calls == 11  # retries at 1..10 s after the first failure, not at 11 s
    assert info.value.attempts == 11


async def test_the_deadline_bounds_throttled_retries_when_it_comes_first() -> None:
    r, clock = timed_retrier(RetryPolicy(max_throttle_wait=100.0))
    script = Script(*[throttled(2.0) for _ in range(100)])
    with pytest.raises(RateLimitError):
        await r.run(script, deadline=clock.now + 7.0)
    assert script.calls == 4  # retries at 2, 4, 6 s; one at 8 s would outlive the deadline


async def test_max_retries_zero_does_not_retry_throttling_either() -> None:
    r, clock = timed_retrier(RetryPolicy(max_retries=0))
    with pytest.raises(RateLimitError):
        await r.run(Script(throttled(1.0)), deadline=None)
    assert clock.waits == []


def test_max_throttle_wait_is_validated() -> None:
    for bad in (0, -1.0, float("inf"), None):
        with pytest.raises(ConfigurationError):
            RetryPolicy(max_throttle_wait=bad)  # type: ignore[arg-type]
