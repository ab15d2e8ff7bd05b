"""The engine's bounded paths: a call's deadline, and a bounded wait on its limiter.

`Engine.request` (`asyncsdk._engine`) takes these paths only when the caller set
``Timeout.deadline`` or ``Timeout.limiter_wait``; the common path (no deadline, an
unbounded wait) never enters this module, so it pays for none of it. A deadline
bounds the whole call (every attempt, every retry's sleep, every limiter wait); a
bound on the limiter's wait sheds an attempt the limiter cannot serve in time,
before anything is sent. Either way the failure is typed: `APITimeoutError` when the
call ran out of time, `LimiterTimeoutError` when it never left the limiter's queue.

Imports: the standard library, yarl (the URL's type), and the package's `_protocol`,
`errors`, `retry`, `stats` and `ratelimit` (the lane's type).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from . import _protocol
from .errors import APITimeoutError, LimiterTimeoutError
from .retry import OnWait, Retrier
from .stats import Counters

if TYPE_CHECKING:
    from yarl import URL

    from .ratelimit._workspaces import Lane

__all__ = ["Queued", "acquire_bounded", "run_with_deadline"]

T = TypeVar("T")


class Queued:
    """Set while one call's attempt waits in the limiter's queue: when it began."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: float | None = None


async def run_with_deadline(
    attempt: Callable[[float, Queued], Awaitable[T]],
    retrier: Retrier,
    counters: Counters,
    url: URL,
    seconds: float,
    on_wait: OnWait | None,
) -> T:
    """Make every attempt of one call within ``seconds``, retrying as the policy says.

    Args:
        attempt: One attempt, given the call's deadline (loop time) and its `Queued`.
        retrier: The client's retrier.
        counters: The client's counters (``limiter_timeouts`` is counted here).
        url: The call's URL, for the errors.
        seconds: The deadline, from now.
        on_wait: Told of each retry's sleep (telemetry), or ``None``.

    Raises:
        LimiterTimeoutError: The deadline struck while an attempt waited on the limiter.
        APITimeoutError: The deadline struck anywhere else.
    """
    deadline = asyncio.get_running_loop().time() + seconds
    attempts = 0
    queued = Queued()

    async def counted() -> T:
        nonlocal attempts
        attempts += 1
        return await attempt(deadline, queued)

    try:
        async with asyncio.timeout_at(deadline):
            return await retrier.run(counted, deadline=deadline, on_wait=on_wait)
    except TimeoutError as exc:
        if isinstance(exc, APITimeoutError | LimiterTimeoutError):
            raise
        if queued.since is not None:  # the deadline struck in the limiter's queue
            waited = asyncio.get_running_loop().time() - queued.since
            raise _shed(
                counters,
                url,
                f"waited {waited:.3g}s for the client's rate limiter until the call's "
                f"deadline of {seconds}s: not sent",
                waited=waited,
                attempts=attempts,
            ) from exc
        raise APITimeoutError(
            f"deadline of {seconds}s for the call exceeded",
            method=_protocol.METHOD,
            url=str(url),
            attempts=attempts,
        ) from exc


def wait_bound(limiter_wait: float | None, left: float | None) -> float:
    """The longest an attempt may wait on its limiter: the tighter of the two bounds.

    Args:
        limiter_wait: ``Timeout.limiter_wait``, or ``None``.
        left: Seconds left before the call's deadline, or ``None`` without one.
    """
    if left is None:
        assert limiter_wait is not None
        return limiter_wait
    return left if limiter_wait is None else min(limiter_wait, left)


async def acquire_bounded(
    lane: Lane,
    counters: Counters,
    url: URL,
    limiter_wait: float | None,
    deadline: float | None,
    queued: Queued | None = None,
) -> None:
    """Acquire within ``Timeout.limiter_wait`` and the deadline, or shed the attempt.

    The bound applies to the workspace's own limiter: a busy workspace sheds its
    own calls, not another's.

    Raises:
        LimiterTimeoutError: The limiter expects a longer wait than allowed (raised
            at once), or the wait ran out.
        TimeoutError: The deadline had passed already (the caller's to report).
    """
    loop = asyncio.get_running_loop()
    left = None if deadline is None else deadline - loop.time()
    if left is not None and left <= 0:
        # The call's time ran out before this attempt reached the limiter (a retry's
        # sleep ended late on a busy loop): the deadline's doing, not the limiter's.
        # `run_with_deadline` turns this into `APITimeoutError`.
        raise TimeoutError
    bound = wait_bound(limiter_wait, left)
    expected = lane.expected_wait() if lane.expected_wait is not None else 0.0
    if expected > bound:
        raise _shed(
            counters,
            url,
            f"the rate limiter expects a wait of {expected:.3g}s, more than the "
            f"{max(bound, 0.0):.3g}s allowed: refused at once, not sent",
            waited=0.0,
            expected=expected,
        )
    started = loop.time()
    if queued is not None:
        queued.since = started  # until granted: a deadline now is the queue's doing
    try:
        async with asyncio.timeout(bound):
            await lane.limiter.acquire()
        if queued is not None:
            queued.since = None
    except TimeoutError as exc:
        waited = loop.time() - started
        raise _shed(
            counters,
            url,
            f"waited {waited:.3g}s for the client's rate limiter, the most allowed: not sent",
            waited=waited,
        ) from exc


def _shed(
    counters: Counters,
    url: URL,
    message: str,
    *,
    waited: float,
    expected: float | None = None,
    attempts: int = 1,
) -> LimiterTimeoutError:
    """Count an attempt shed by the limiter's bound, and return its error to raise."""
    counters.limiter_timeouts += 1
    return LimiterTimeoutError(
        message,
        method=_protocol.METHOD,
        url=str(url),
        waited=waited,
        expected=expected,
        attempts=attempts,
    )
