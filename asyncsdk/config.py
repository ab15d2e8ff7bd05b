"""Client settings as frozen, validated objects, and every default in one place.

Settings are resolved once, when a `Client` is built; nothing downstream re-reads
keyword arguments. Change one field of a setting with `dataclasses.replace`::

    timeout = dataclasses.replace(Timeout(), total=5.0)

Imports: the standard library and `asyncsdk.errors` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_MEDIA_TRANSFERS",
    "DEFAULT_MAX_PAGE_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MEDIA_READ_TIMEOUT",
    "RateLimit",
    "RetryPolicy",
    "Timeout",
]

# --- defaults: every tunable number of the SDK, with its unit --------------------------

DEFAULT_BASE_URL = "https://api.bird.com"
"""The production API root; `Client` uses it unless ``base_url`` or ``BIRD_BASE_URL`` is set."""
#: Seconds to establish a connection (DNS, TCP and TLS).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds the socket may stay silent while reading a response; ``None`` by default.
#: A call is a few KB, so the per-attempt total already bounds a stalled or trickling
#: body, while aiohttp re-arms a read timer on every chunk: measured at ~8 us of
#: client CPU per request (5 % of the whole), for no protection the total lacks.
DEFAULT_READ_TIMEOUT: float | None = None
#: Seconds one attempt may take in all, connect to last byte.
DEFAULT_TOTAL_TIMEOUT = 30.0
#: Connections the client's own pool keeps open at most (all hosts).
DEFAULT_MAX_CONNECTIONS = 100
#: Bytes a response body may have; larger ones are refused unread. A call is ~3 KB.
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
#: Object-store transfers (recordings, transcripts) one client runs at once; they are
#: not paced by Bird's rate limiter (another host), so this bounds them instead.
DEFAULT_MAX_MEDIA_TRANSFERS = 8
#: Seconds an object-store body may stay silent when ``Timeout.read`` is ``None``: a
#: recording has no per-attempt total (it may take minutes), so a stall needs a bound.
DEFAULT_MEDIA_READ_TIMEOUT = 60.0
#: Bytes a page of a list endpoint may have. A page holds up to 1,000 calls: about
#: 3.2 MB when indented, so this leaves room for calls ten times the usual size.
DEFAULT_MAX_PAGE_BYTES = 32 * 1024 * 1024
#: Retries after the first attempt (so 4 attempts in all).
DEFAULT_MAX_RETRIES = 3
#: Seconds: the cap of the first backoff wait; doubles each retry (full jitter below it).
DEFAULT_INITIAL_BACKOFF = 0.5
#: Seconds: the largest computed backoff wait.
DEFAULT_MAX_BACKOFF = 8.0
#: Seconds: the longest ``Retry-After`` the client will honour by waiting. A longer
#: one raises `RateLimitError` (or the 503's error) carrying ``retry_after`` at once.
DEFAULT_MAX_RETRY_AFTER = 60.0
#: Seconds a call keeps retrying throttled answers (429, or 503 with ``Retry-After``),
#: from its first failed attempt, once their retries no longer count against
#: ``max_retries``: Bird documents that a 429 was not processed and can be retried, so
#: a call ends as `RateLimitError` only when throttling outlasts this (or the call's
#: ``Timeout.deadline``), never after a count of 429s. Two of the longest
#: ``Retry-After`` honoured (`DEFAULT_MAX_RETRY_AFTER`).
DEFAULT_MAX_THROTTLE_WAIT = 120.0
#: Statuses worth another attempt: timeouts, throttling and transient server faults.
DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Retry budget (gRPC's retry throttling): tokens the client starts with and holds at
#: most. An attempt that fails with a retryable error (5xx, connection, timeout) takes
#: one, any other answer gives one back (a throttled one neither: its wait is the
#: limiter's business); retries are allowed while more than half are left. See
#: `asyncsdk.retry` for why.
DEFAULT_RETRY_BUDGET = 500
#: Requests the local token bucket lets through at once before pacing starts.
DEFAULT_BURST = 1
DEFAULT_CONCURRENCY = 32
"""Requests in flight at most in `gather_calls` / `iter_calls`.

By Little's law 32 in flight at ~50 ms per request allow ~640 requests/s: above typical
account limits, so the rate limiter, not this, sets the pace, while memory stays small.
"""


def _check_positive(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ConfigurationError(f"{name} must be a positive number of seconds, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        hint = "; pass None for no limit" if allow_none else ""
        raise ConfigurationError(f"{name} must be a finite number > 0, got {value!r}{hint}")


@dataclass(frozen=True, slots=True)
class Timeout:
    """Time limits, in seconds; ``None`` means no limit for that phase.

    Attributes:
        connect: To establish a connection (DNS, TCP, TLS).
        read: The longest silence while reading the response.
        total: One attempt, from connect to the last byte of the body.
        deadline: One `get_call`, across all attempts and the waits between them.
            ``None`` leaves it bounded by the attempts and their backoff.
        limiter_wait: How long one attempt may wait for its turn on the client's own
            rate limiter; ``None`` for no bound. An attempt the limiter already expects
            to wait longer (its queue divided by its rate, or a pause) is refused at
            once: load shedding, so that a web app's latency stays bounded when demand
            outruns the API's rate limit. Raises `LimiterTimeoutError`, nothing sent.
    """

    connect: float | None = DEFAULT_CONNECT_TIMEOUT
    read: float | None = DEFAULT_READ_TIMEOUT
    total: float | None = DEFAULT_TOTAL_TIMEOUT
    deadline: float | None = None
    limiter_wait: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total", "deadline", "limiter_wait"):
            _check_positive(f"Timeout.{name}", getattr(self, name))

    @classmethod
    def from_seconds(cls, seconds: float) -> Timeout:
        """Build a timeout whose every phase, and the attempt, is limited to ``seconds``."""
        return cls(connect=seconds, read=seconds, total=seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    The wait before retry *n* (1-based) is ``uniform(0, min(max_backoff,
    initial_backoff * 2 ** (n - 1)))`` ("full jitter"), unless the response carried
    ``Retry-After``: then exactly that, if it is at most ``max_retry_after``.

    Throttled answers (429, or 503 with ``Retry-After``) do not count against
    ``max_retries``: Bird documents that a 429 was not processed and can be retried, so
    a call is not failed for a number of them while the server keeps saying "later".
    Their retries are bounded in time instead: by ``max_throttle_wait`` from the call's
    first failed attempt, and by ``Timeout.deadline`` when one is set (whichever comes
    first). A ``Retry-After`` above ``max_retry_after`` is raised at once, as ever, and
    ``max_retries=0`` still retries nothing.

    Attributes:
        max_retries: Retries after failures other than throttling (5xx, connection
            failures, timeouts); 0 disables retrying altogether.
        initial_backoff: Seconds, the jitter ceiling of the first retry.
        max_backoff: Seconds, the largest jitter ceiling.
        max_retry_after: Seconds, the longest server-requested wait that is honoured;
            a longer ``Retry-After`` raises the error at once, carrying ``retry_after``.
        max_throttle_wait: Seconds, from the call's first failed attempt, during which
            throttled answers are retried without counting against ``max_retries``;
            after that a throttled answer ends the call as `RateLimitError`.
        retry_statuses: HTTP statuses that are retried. Connection failures and
            timeouts are always retried; other statuses never are.
        budget: Retry tokens of the client (see `DEFAULT_RETRY_BUDGET`): a failed
            attempt takes one, an answer gives one back, and retries stop while half
            or fewer are left. ``0`` disables the budget (retries are then limited only
            per call).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF
    max_backoff: float = DEFAULT_MAX_BACKOFF
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    max_throttle_wait: float = DEFAULT_MAX_THROTTLE_WAIT
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)
    budget: int = DEFAULT_RETRY_BUDGET

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ConfigurationError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ConfigurationError(
                f"max_retries must be >= 0 (0 disables retries), got {self.max_retries}"
            )
        for name in ("initial_backoff", "max_backoff", "max_retry_after", "max_throttle_wait"):
            _check_positive(f"RetryPolicy.{name}", getattr(self, name), allow_none=False)
        budget = self.budget
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ConfigurationError(
                f"RetryPolicy.budget must be an int >= 0 (0 disables it), got {budget!r}"
            )
        bad = [s for s in self.retry_statuses if not 100 <= s <= 599]
        if bad:
            raise ConfigurationError(f"retry_statuses must be HTTP statuses, got {sorted(bad)}")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How fast the client may send requests.

    Attributes:
        rate: Requests per second, or ``None`` when the limit is unknown (then
            ``adaptive`` discovers it from the server's throttling responses). A
            configured rate is a ceiling that sporadic 429s never lower.
        burst: Requests that may go out back to back before pacing starts. Small by
            default so that a client set to the API's documented rate is not throttled
            by a server that allows only a small burst.
        adaptive: Follow the server: adopt a limit it states (``RateLimit-Policy``),
            and lower the rate while throttling shows it sends too fast (20 % or more
            of 429s for a configured rate), back up to ``rate`` once it stops.
            ``False`` keeps ``rate`` as a fixed pace.
    """

    rate: float | None = None
    burst: int = DEFAULT_BURST
    adaptive: bool = True

    def __post_init__(self) -> None:
        if self.rate is not None:
            _check_positive("RateLimit.rate (requests per second)", self.rate, allow_none=False)
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ConfigurationError(f"RateLimit.burst must be an int >= 1, got {self.burst!r}")
