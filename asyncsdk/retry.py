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

Budget (botocore's "standard" retry quota): the client starts with
``RetryPolicy.budget`` tokens; a retry after an error status costs ``retry_cost``, one
after a timeout or connection failure ``timeout_cost``; every success returns one
token, up to the start value. When a retry cannot be paid for, the error is raised at
once: during an outage the client stops multiplying its load.

Cancellation: `asyncio.CancelledError` is never retried, swallowed or wrapped.

Imports: tenacity, the standard library, `asyncsdk.config` and `asyncsdk.errors`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import tenacity

from .config import RetryPolicy
from .errors import APIConnectionError, APIError, APITimeoutError, RequestError

__all__ = ["Retrier", "RetryBudget", "backoff_delay", "retry_reason"]

T = TypeVar("T")
logger: Final = logging.getLogger("asyncsdk")

Sleep = Callable[[float], Awaitable[None]]


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


class RetryBudget:
    """Client-wide retry tokens; see the module docstring for the rules."""

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

    def try_spend(self, cost: int) -> bool:
        """Take ``cost`` tokens if there are that many; tell whether it did."""
        if not self.enabled:
            return True
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def refill(self) -> None:
        """Return one token after a success."""
        if self._tokens < self._capacity:
            self._tokens += 1

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
    """

    __slots__ = ("_budget", "_on_retry", "_policy", "_rand", "_sleep")

    def __init__(
        self,
        policy: RetryPolicy,
        budget: RetryBudget,
        *,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self._policy = policy
        self._budget = budget
        self._sleep = sleep
        self._rand = rand
        self._on_retry = on_retry

    @property
    def budget(self) -> RetryBudget:
        """The budget this retrier draws from."""
        return self._budget

    async def run(self, attempt: Callable[[], Awaitable[T]], *, deadline: float | None) -> T:
        """Await ``attempt()``; retry it while the policy, budget and deadline allow.

        Args:
            attempt: Makes one attempt; raises a `RequestError` on failure.
            deadline: Loop time after which no retry is started, or ``None``.

        Raises:
            RequestError: The last attempt's error, with ``attempts`` set.
        """
        try:
            result = await attempt()
        except RequestError as exc:
            return await self.after_failure(attempt, exc, deadline=deadline)
        self._budget.refill()
        return result

    async def after_failure(
        self, attempt: Callable[[], Awaitable[T]], first: RequestError, *, deadline: float | None
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
        if policy.max_retries == 0 or retry_reason(first, policy) is None:
            raise first
        count = 0

        async def numbered() -> T:
            nonlocal count
            count += 1
            if count == 1:
                raise first  # replay the fast path's failure into tenacity
            try:
                return await attempt()
            except RequestError as exc:
                exc.attempts = count
                raise

        def wait(state: tenacity.RetryCallState) -> float:
            exc = _failure(state)
            if isinstance(exc, APIError) and exc.retry_after is not None:
                return exc.retry_after
            return backoff_delay(state.attempt_number, policy, self._rand)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number > policy.max_retries:
                return True
            loop_time = asyncio.get_running_loop().time()
            if deadline is not None and loop_time + (state.upcoming_sleep or 0.0) >= deadline:
                return True
            exc = _failure(state)
            cost = policy.timeout_cost if isinstance(exc, APIConnectionError) else policy.retry_cost
            if not self._budget.try_spend(cost):
                logger.debug("retry budget exhausted; not retrying %s", exc)
                return True
            return False

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = _failure(state)
            reason = retry_reason(exc, policy) or "?"
            logger.debug(
                "retry %d/%d of GET %s after %s (%s), waiting %.3fs",
                state.attempt_number,
                policy.max_retries,
                getattr(exc, "url", "?"),
                reason,
                exc,
                state.upcoming_sleep,
            )
            if self._on_retry is not None:
                self._on_retry(reason)

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(lambda e: retry_reason(e, policy) is not None),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        result: T = await retrying(numbered)
        self._budget.refill()
        return result


def _failure(state: tenacity.RetryCallState) -> BaseException:
    outcome = state.outcome
    assert outcome is not None
    exc = outcome.exception()
    assert exc is not None
    return exc
