"""Retries: which failures are retried, how long to wait, and a client-wide budget.

The decisions are small pure functions (`retry_reason`, `backoff_delay`) and a
`RetryBudget`; tenacity drives the loop and is private to this module (no tenacity
type appears in the SDK's API).

The first attempt runs outside tenacity: a call that succeeds pays nothing for the
retry machinery. Only when it fails with a retryable error is a tenacity loop built
for the remaining attempts.

Waits: a ``Retry-After`` on the response is used as given (if it exceeds
``RetryPolicy.max_retry_after`` the error is raised at once, carrying
``retry_after``); otherwise "full jitter"::

    wait(n) = uniform(0, min(max_backoff, initial_backoff * 2 ** (n - 1)))   # n = retry number

Budget: a retry storm during an outage multiplies the load on a server that is
already down; a brownout (a minority of attempts failing, each likely to succeed on
retry) is exactly when retries do their job. The budget tells the two apart by the
share of attempts that fail, as gRPC's retry throttling (gRFC A6) does: the client holds
``RetryPolicy.budget`` tokens (500); every attempt that fails with a retryable error
(5xx, connection, timeout) takes one, every other answer gives one back, and a retry
is allowed only while more than half the tokens are left. With one token each way the
tokens drift down only while more attempts fail than succeed: retries go on through
any brownout below a 50 % failure share, and stop after about 250 net failures of an
outage (a second or two of a bulk run), so an outage costs about one retry per first
attempt at most, and they come back by themselves once answers do. Throttled answers
(429, or 503 with ``Retry-After``) neither take nor give: their wait is honoured and
the rate limiter deals with throttling.

Throttling and ``max_retries``: Bird documents a 429 as "not processed, can be
retried". Counting 429s against ``max_retries`` ended calls as errors for throttling
alone: four processes sharing one quota, each retrying 3 times, lost 5 to 8 IDs in
4,000 while the server only ever said "later". So a throttled answer's retry is free
(`counts_against_retries`); only other failures use up ``max_retries``. What bounds
throttled retries is time (`throttle_allows`): ``RetryPolicy.max_throttle_wait``
(120 s) from the call's first failed attempt, and the call's ``Timeout.deadline`` when
set, whichever comes first; their waits are the server's ``Retry-After`` (else the
usual backoff), and the client's rate limiter meanwhile slows every request down, so a
throttled call is not retried in a tight loop. ``max_retries=0`` still disables every
retry, throttled ones included.

Evidence: botocore's quota (a retry costs 5, or 10 after a timeout; a success gives 1
back) drains once more than about one attempt in six fails. In a brownout of 35 %
transient failures it emptied within seconds and every later failure was raised at
once: 535 of 1,888 calls ended as errors where a per-call loop with the same retries
lost 12. The throttling lab (``benchmarks/throttling.py``, ``docs/throttling.md``)
measures both sides of the rule: the brownout scenario and a ten-second outage.

Cancellation: `asyncio.CancelledError` is never retried, swallowed or wrapped.

Imports: tenacity, the standard library, `asyncsdk.config` and `asyncsdk.errors`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Final, TypeVar

import tenacity

from .config import RetryPolicy
from .errors import APIConnectionError, APIError, APITimeoutError, RateLimitError, RequestError

__all__ = [
    "Retrier",
    "RetryBudget",
    "backoff_delay",
    "counts_against_retries",
    "is_throttle",
    "retry_reason",
    "throttle_allows",
]

T = TypeVar("T")
logger: Final = logging.getLogger("asyncsdk")

Sleep = Callable[[float], Awaitable[None]]
#: Wraps each wait before a retry: called with its cause (``"retry_after"`` or
#: ``"backoff"``) and its seconds, the sleep runs inside what it returns (telemetry).
OnWait = Callable[[str, float], AbstractContextManager[object]]


def retry_reason(exc: BaseException, policy: RetryPolicy) -> str | None:
    """Name why ``exc`` is worth retrying (``"503"``, ``"timeout"``...), or ``None`` if not.

    Retried: timeouts, connection failures, and `APIError` statuses listed in
    ``policy.retry_statuses`` whose ``Retry-After`` (if any) is within
    ``policy.max_retry_after``. Nothing else, and never a `BaseException` that is not
    an `Exception` (cancellation, interpreter exit).
    """
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection"
    if isinstance(exc, APIError) and exc.status in policy.retry_statuses:
        if exc.retry_after is not None and exc.retry_after > policy.max_retry_after:
            return None
        return str(exc.status)
    return None


def backoff_delay(
    retry_number: int, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based) without ``Retry-After``."""
    ceiling = min(policy.max_backoff, policy.initial_backoff * 2.0 ** (retry_number - 1))
    return rand() * ceiling


def is_throttle(exc: BaseException) -> bool:
    """Tell whether ``exc`` is throttling: a 429, or a 503 that says when to come back."""
    if isinstance(exc, RateLimitError):
        return True
    return isinstance(exc, APIError) and exc.status == 503 and exc.retry_after is not None


def counts_against_retries(exc: BaseException) -> bool:
    """Tell whether a retry after ``exc`` uses up one of ``max_retries`` (not throttling)."""
    return not is_throttle(exc)


def throttle_allows(
    now: float, wait: float, *, first_failure: float, deadline: float | None, policy: RetryPolicy
) -> bool:
    """Tell whether a throttled call may retry after waiting ``wait`` seconds from ``now``.

    Throttled retries are bounded in time, not in number (module doc): the retry must
    start within ``policy.max_throttle_wait`` of ``first_failure`` (the call's first
    failed attempt) and before ``deadline`` (loop time, or ``None``).
    """
    start = now + wait
    if start > first_failure + policy.max_throttle_wait:
        return False
    return deadline is None or start < deadline


class RetryBudget:
    """Client-wide retry tokens (gRPC retry throttling); see the module docstring."""

    __slots__ = ("_capacity", "_tokens")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._tokens = capacity

    @property
    def available(self) -> int:
        """Tokens left."""
        return self._tokens

    @property
    def enabled(self) -> bool:
        """A budget of 0 means no client-wide limit."""
        return self._capacity > 0

    @property
    def allows_retry(self) -> bool:
        """Whether a retry after an error may go out: more than half the tokens are left."""
        return self._tokens * 2 > self._capacity or not self._capacity

    def refill(self) -> None:
        """Give one token back: an attempt got an answer that was not a retryable error."""
        if self._tokens < self._capacity:
            self._tokens += 1

    def spend(self) -> None:
        """Take one token: an attempt failed with a retryable error."""
        if self._tokens > 0:
            self._tokens -= 1

    def record(self, exc: RequestError, policy: RetryPolicy) -> None:
        """Take or give back a token for an attempt that raised ``exc``."""
        if is_throttle(exc):
            return
        if retry_reason(exc, policy) is not None:
            self.spend()
        elif isinstance(exc, APIError):  # the server answered: it is up
            self.refill()

    def __repr__(self) -> str:
        return f"<RetryBudget {self._tokens}/{self._capacity}>"


class Retrier:
    """Runs an attempt function under a `RetryPolicy` and a shared `RetryBudget`.

    Args:
        policy: When and how long to retry.
        budget: The client-wide budget retries draw from.
        sleep: Awaitable sleep; tests pass a recorder instead of waiting.
        rand: Uniform [0, 1) source for jitter.
        on_retry: Called with the reason just before each retry's wait.
        clock: The time in seconds, for deadlines; the running loop's clock by default.
    """

    __slots__ = ("_budget", "_clock", "_on_retry", "_policy", "_rand", "_sleep")

    def __init__(
        self,
        policy: RetryPolicy,
        budget: RetryBudget,
        *,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[str], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._clock = clock
        self._policy = policy
        self._budget = budget
        self._sleep = sleep
        self._rand = rand
        self._on_retry = on_retry

    @property
    def budget(self) -> RetryBudget:
        """The budget this retrier draws from."""
        return self._budget

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        deadline: float | None,
        on_wait: OnWait | None = None,
    ) -> T:
        """Await ``attempt()``; retry it while the policy, budget and deadline allow.

        Args:
            attempt: Makes one attempt; raises a `RequestError` on failure.
            deadline: Loop time after which no retry is started, or ``None``.
            on_wait: Wraps each wait before a retry (`OnWait`): the call's telemetry.

        Raises:
            RequestError: The last attempt's error, with ``attempts`` set.
        """
        try:
            result = await attempt()
        except RequestError as exc:
            return await self.after_failure(attempt, exc, deadline=deadline, on_wait=on_wait)
        self._budget.refill()
        return result

    async def after_failure(
        self,
        attempt: Callable[[], Awaitable[T]],
        first: RequestError,
        *,
        deadline: float | None,
        on_wait: OnWait | None = None,
    ) -> T:
        """Continue after a first attempt that failed with ``first``: retry or re-raise.

        `run` is this plus the first attempt. A caller on a hot path makes the first
        attempt itself and calls this only on failure, so a success costs no extra
        coroutine; it must then call `RetryBudget.refill` on success, as `run` does.

        Raises:
            RequestError: ``first`` when it is not retryable, else the last attempt's
                error, with ``attempts`` set.
        """
        policy = self._policy
        budget = self._budget
        budget.record(first, policy)
        if policy.max_retries == 0 or retry_reason(first, policy) is None:
            raise first
        clock = self._clock or asyncio.get_running_loop().time
        first_failure = clock()
        count = 0
        counted = 0  # failures that use up max_retries (not throttling)
        cause = "backoff"  # of the coming wait, set by before_sleep

        async def numbered() -> T:
            nonlocal count
            count += 1
            if count == 1:
                raise first  # replay the fast path's failure into tenacity
            try:
                result = await attempt()
            except RequestError as exc:
                exc.attempts = count
                budget.record(exc, policy)
                raise
            budget.refill()
            return result

        def wait(state: tenacity.RetryCallState) -> float:
            exc = _failure(state)
            if isinstance(exc, APIError) and exc.retry_after is not None:
                return exc.retry_after
            return backoff_delay(state.attempt_number, policy, self._rand)

        def stop(state: tenacity.RetryCallState) -> bool:
            nonlocal counted
            exc = _failure(state)
            now, upcoming = clock(), state.upcoming_sleep or 0.0
            if is_throttle(exc):  # bounded by time, not by max_retries (module doc)
                allowed = throttle_allows(
                    now, upcoming, first_failure=first_failure, deadline=deadline, policy=policy
                )
                return not allowed
            counted += 1
            if counted > policy.max_retries:
                return True
            if deadline is not None and now + upcoming >= deadline:
                return True
            if not budget.allows_retry:
                logger.debug("retry budget below half (%r); not retrying %s", budget, exc)
                return True
            return False

        def before_sleep(state: tenacity.RetryCallState) -> None:
            nonlocal cause
            exc = _failure(state)
            has_retry_after = isinstance(exc, APIError) and exc.retry_after is not None
            cause = "retry_after" if has_retry_after else "backoff"
            reason = retry_reason(exc, policy) or "?"
            logger.debug(
                "retry %s of GET %s after %s (%s), waiting %.3fs",
                f"{counted}/{policy.max_retries}"
                if counts_against_retries(exc)
                else "(throttled: not counted)",
                getattr(exc, "url", "?"),
                reason,
                exc,
                state.upcoming_sleep,
            )
            if self._on_retry is not None:
                self._on_retry(reason)

        sleep: Sleep = self._sleep
        if on_wait is not None:

            async def traced_sleep(seconds: float) -> None:
                with on_wait(cause, seconds):
                    await self._sleep(seconds)

            sleep = traced_sleep

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(lambda e: retry_reason(e, policy) is not None),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            sleep=sleep,
            reraise=True,
        )
        result: T = await retrying(numbered)
        return result


def _failure(state: tenacity.RetryCallState) -> BaseException:
    outcome = state.outcome
    assert outcome is not None
    exc = outcome.exception()
    assert exc is not None
    return exc
