"""Configuration of the embedded server: `ServerConfig`, `Faults` and `ScriptedResponse`.

Frozen, validated value objects and the ``DEFAULT_*`` constants they use. Nothing here
does I/O or keeps state.

Imports: the server's `_mediaconfig` and the standard library.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from asyncsdk.server._mediaconfig import RecordingsConfig

__all__ = [
    "DEFAULT_ACCESS_KEYS",
    "DEFAULT_BEARER_TOKENS",
    "DEFAULT_BURST",
    "DEFAULT_BURST_429_LENGTH",
    "DEFAULT_RETRY_AFTER_429",
    "DEFAULT_SLOW_SECONDS",
    "DEFAULT_THROTTLE_RETRY_AFTER",
    "Faults",
    "ScriptAction",
    "ScriptedResponse",
    "ServerConfig",
    "TimePrecision",
]

#: How finely the list endpoints read ``startAt`` and ``endAt``: what is finer is cut off.
TimePrecision = Literal["second", "millisecond", "microsecond"]

_PRECISIONS: frozenset[str] = frozenset(("second", "millisecond", "microsecond"))

#: What a scripted response does with the connection.
ScriptAction = Literal["respond", "reset", "truncate", "slow"]

_ACTIONS: frozenset[str] = frozenset(("respond", "reset", "truncate", "slow"))

#: Credentials accepted by default (``AccessKey`` scheme).
DEFAULT_ACCESS_KEYS: tuple[str, ...] = ("test-access-key",)
#: Tokens accepted by default (``Bearer`` scheme).
DEFAULT_BEARER_TOKENS: tuple[str, ...] = ("test-jwt",)
#: Token-bucket size, in requests, when a rate limit is set.
DEFAULT_BURST: int = 10
#: Number of consecutive 429 answers in one injected burst.
DEFAULT_BURST_429_LENGTH: int = 3
#: ``Retry-After`` of an injected 429, in whole seconds.
DEFAULT_RETRY_AFTER_429: int = 1
#: Delay of a "slow" answer, in seconds: longer than any sensible client timeout.
DEFAULT_SLOW_SECONDS: float = 30.0
#: ``Retry-After`` values, in whole seconds, a sporadic 429 draws from (uniformly).
DEFAULT_THROTTLE_RETRY_AFTER: tuple[int, ...] = (0, 1)
#: Lowest and highest HTTP status a scripted response may carry.
_MIN_STATUS, _MAX_STATUS = 100, 599


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability between 0.0 and 1.0, got {value!r}")


def _check_seconds(name: str, value: float, *, allow_zero: bool = True) -> None:
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "zero or more" if allow_zero else "more than zero"
        raise ValueError(f"{name} must be a finite number of seconds, {bound}; got {value!r}")


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer of 1 or more, got {value!r}")


def _check_non_negative_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of seconds, 0 or more; got {value!r}")


@dataclass(frozen=True, slots=True)
class Faults:
    """Probabilities of injected failures, drawn per request from the server's seeded RNG.

    Each probability is in ``[0.0, 1.0]``; all default to ``0.0`` (no faults). Faults
    apply only to requests that passed authentication and the rate limiter, and never
    to scripted responses. When several faults are drawn for one request the first in
    this order wins: ``throttle``, ``burst_429``, ``reset``, ``truncate``, ``slow``,
    ``error_500``, ``error_502_html``, ``error_503``. ``throttle`` draws from an RNG of
    its own, so turning it on leaves the other faults' seeded sequence as it was.

    Attributes:
        throttle: Answer 429 whatever the rate: throttling that does not track how fast
            this client sends (a quota shared with other clients, a gateway's own
            limits). Its ``Retry-After`` is drawn from ``throttle_retry_after``.
        error_500: Answer 500 with a JSON error body.
        error_502_html: Answer 502 with a proxy's HTML page (``text/html``).
        error_503: Answer 503 with a JSON error body.
        burst_429: Start a burst of ``burst_429_length`` consecutive 429 answers,
            server-wide, this request being the first.
        reset: Abort the connection without sending anything.
        truncate: Send the status, headers with the full ``Content-Length``, then half
            the body, then close the connection.
        slow: Wait ``slow_seconds`` before answering normally.
        burst_429_length: Number of 429 answers in one burst (1 or more).
        retry_after_429: ``Retry-After`` of a burst 429, in whole seconds.
        retry_after_503: ``Retry-After`` of a 503, in whole seconds; ``None`` sends none.
        slow_seconds: Delay of a slow answer, in seconds; longer than a client timeout.
        throttle_retry_after: ``Retry-After`` values of a ``throttle`` 429, in whole
            seconds, drawn uniformly.
    """

    throttle: float = 0.0
    error_500: float = 0.0
    error_502_html: float = 0.0
    error_503: float = 0.0
    burst_429: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    slow: float = 0.0
    burst_429_length: int = DEFAULT_BURST_429_LENGTH
    retry_after_429: int = DEFAULT_RETRY_AFTER_429
    retry_after_503: int | None = None
    slow_seconds: float = DEFAULT_SLOW_SECONDS
    throttle_retry_after: tuple[int, ...] = DEFAULT_THROTTLE_RETRY_AFTER

    def __post_init__(self) -> None:
        for name in (
            "throttle",
            "error_500",
            "error_502_html",
            "error_503",
            "burst_429",
            "reset",
            "truncate",
            "slow",
        ):
            _check_probability(name, getattr(self, name))
        _check_positive_int("burst_429_length", self.burst_429_length)
        _check_non_negative_int("retry_after_429", self.retry_after_429)
        if self.retry_after_503 is not None:
            _check_non_negative_int("retry_after_503", self.retry_after_503)
        _check_seconds("slow_seconds", self.slow_seconds)
        values: object = self.throttle_retry_after
        if not isinstance(values, tuple | list) or not values:
            raise ValueError(
                f"throttle_retry_after must be a non-empty tuple of whole seconds, got {values!r}"
            )
        for value in values:
            _check_non_negative_int("throttle_retry_after", value)
        object.__setattr__(self, "throttle_retry_after", tuple(values))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the embedded server behaves: credentials, rate limit, latency and faults.

    Attributes:
        access_keys: Keys accepted as ``Authorization: AccessKey <key>``.
        bearer_tokens: Tokens accepted as ``Authorization: Bearer <token>``.
        rate_limit: Sustained rate of the server-wide token bucket, in requests per
            second; ``None`` turns rate limiting off.
        burst: Size of the token bucket (requests), used when ``rate_limit`` is set.
        policy_header: With ``rate_limit`` set, also state the limit in every answer's
            ``RateLimit-Policy`` header (IETF draft: ``<rate>;w=1``), so an adaptive
            client can adopt it instead of discovering it by being throttled.
        limit_headers: With ``rate_limit`` set, send ``X-RateLimit-Limit``,
            ``-Remaining`` and ``-Reset``; off, a client learns the limit only from
            429s (with ``policy_header`` off too).
        latency: Delay added before every response, in seconds.
        latency_jitter: Extra delay drawn uniformly from ``0..latency_jitter`` seconds.
        page_latency: Extra delay of a list endpoint's page of 1,000 calls, in seconds;
            a page of ``n`` calls waits ``page_latency * n / 1000`` on top of
            ``latency`` (bigger pages take longer to assemble and send).
        faults: Probabilities of injected failures.
        seed: Seed of every random choice (faults, jitter, request ids): the same seed
            and the same request sequence give the same answers.
        record_requests: Keep a `RecordedRequest` per request in
            ``EmbeddedServer.requests``; turn off for long benchmarks.
        rate_schedule: Changes of ``rate_limit`` over time: ``(seconds, rate)`` pairs,
            seconds counted from the first request the server receives, in increasing
            order. ``((10, 100), (20, 300))`` serves ``rate_limit`` for 10 s, then
            100/s, then 300/s. The ``RateLimit-Policy`` header states the current rate.
        neighbour_rate: Requests per second a simulated second client of the same
            account sends, evenly spaced, drawing on the same bucket (refused like any
            client when it is empty); ``0`` for none. Needs ``rate_limit``.
        outage: ``(start, duration)`` in seconds from the first request: every request
            in that window is answered 503 (with ``Faults.retry_after_503`` if set),
            before the rate limit and the other faults.
        time_precision: How finely the list endpoints read ``startAt`` and ``endAt``
            (``"second"``, ``"millisecond"`` or ``"microsecond"``); what is finer is
            cut off, as an API that stores whole seconds would. Bird's reference does
            not say which it is.
        start_inclusive: Whether a list window holds the calls created at ``startAt``
            exactly (``False``: only those after it).
        end_inclusive: Whether a list window holds the calls created at ``endAt``
            exactly (``False``: only those before it).
        unlisted: Calls the list endpoints leave out, as if not created yet (*Get a
            call* still finds them): two servers over one dataset, one with and one
            without, are a workspace before and after those calls were made.
        unlisted_until: With a number ``n``, the ``unlisted`` calls are listed from the
            ``n``-th list request the server answers on (counting from 1): calls
            created while a listing runs.
        offset_tokens: Page tokens hold how many calls of the query were served
            before, as some APIs' do, instead of where the last page ended: a call
            created above the next page then shifts it, and it repeats calls.
        workspace_quotas: ``(workspace id, rate, burst)`` triples: each workspace named
            here has a quota of its own (a token bucket of ``burst`` requests refilled at
            ``rate`` requests per second, stated in its own headers), as Bird's quota is
            per workspace, and serves the dataset's channel and calls as if they were
            its own. Other workspaces keep ``rate_limit`` (the schedule and the
            neighbour apply to it alone).
        workspace_aliases: More workspace ids serving the dataset's channel and calls,
            drawing on the shared ``rate_limit`` (a quota per account, not per
            workspace).
        recordings: How the recordings and transcriptions endpoints and the object
            store behind their media redirects behave; ``None`` serves neither.
    """

    access_keys: tuple[str, ...] = DEFAULT_ACCESS_KEYS
    bearer_tokens: tuple[str, ...] = DEFAULT_BEARER_TOKENS
    rate_limit: float | None = None
    burst: int = DEFAULT_BURST
    policy_header: bool = True
    limit_headers: bool = True
    latency: float = 0.0
    latency_jitter: float = 0.0
    page_latency: float = 0.0
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    record_requests: bool = True
    rate_schedule: tuple[tuple[float, float], ...] = ()
    neighbour_rate: float = 0.0
    outage: tuple[float, float] | None = None
    time_precision: TimePrecision = "microsecond"
    start_inclusive: bool = True
    end_inclusive: bool = False
    unlisted: frozenset[uuid.UUID] = frozenset()
    unlisted_until: int | None = None
    offset_tokens: bool = False
    workspace_quotas: tuple[tuple[str, float, int], ...] = ()
    workspace_aliases: tuple[str, ...] = ()
    recordings: RecordingsConfig | None = field(default_factory=RecordingsConfig)

    def __post_init__(self) -> None:
        for name in ("access_keys", "bearer_tokens"):
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"{name} must be a tuple of non-empty strings, got {values!r}")
            object.__setattr__(self, name, tuple(values))
        if self.rate_limit is not None:
            _check_seconds("rate_limit", self.rate_limit, allow_zero=False)
        _check_positive_int("burst", self.burst)
        if self.time_precision not in _PRECISIONS:
            raise ValueError(
                f"time_precision must be one of {sorted(_PRECISIONS)}, got {self.time_precision!r}"
            )
        object.__setattr__(self, "unlisted", frozenset(self.unlisted))
        if not all(isinstance(call_id, uuid.UUID) for call_id in self.unlisted):
            raise ValueError("unlisted must hold call ids as uuid.UUID")
        if self.unlisted_until is not None:
            _check_positive_int("unlisted_until", self.unlisted_until)
        for name in (
            "policy_header",
            "limit_headers",
            "start_inclusive",
            "end_inclusive",
            "offset_tokens",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _check_seconds("latency", self.latency)
        _check_seconds("latency_jitter", self.latency_jitter)
        _check_seconds("page_latency", self.page_latency)
        if not isinstance(self.faults, Faults):
            raise ValueError(f"faults must be a Faults instance, got {self.faults!r}")
        if self.recordings is not None and not isinstance(self.recordings, RecordingsConfig):
            raise ValueError(
                f"recordings must be a RecordingsConfig or None, got {self.recordings!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        self._check_traffic()

    def _check_traffic(self) -> None:
        """Validate the schedule, the neighbour and the outage window."""
        schedule = tuple(tuple(step) for step in self.rate_schedule)
        previous = 0.0
        for step in schedule:
            if len(step) != 2:
                raise ValueError(f"rate_schedule steps must be (seconds, rate) pairs, got {step!r}")
            at, rate = step
            _check_seconds("rate_schedule time", at)
            if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
                raise ValueError(f"rate_schedule rates must be requests/s above 0, got {rate!r}")
            if at < previous:
                raise ValueError(f"rate_schedule times must increase, got {schedule!r}")
            previous = at
        object.__setattr__(self, "rate_schedule", schedule)
        if not (
            isinstance(self.neighbour_rate, int | float)
            and math.isfinite(self.neighbour_rate)
            and self.neighbour_rate >= 0
        ):
            raise ValueError(
                f"neighbour_rate must be requests/s, 0 or more; got {self.neighbour_rate!r}"
            )
        if (schedule or self.neighbour_rate) and self.rate_limit is None:
            raise ValueError("rate_schedule and neighbour_rate need rate_limit (the initial rate)")
        if self.outage is not None:
            if len(self.outage) != 2:
                raise ValueError(f"outage must be (start, seconds), got {self.outage!r}")
            _check_seconds("outage start", self.outage[0])
            _check_seconds("outage duration", self.outage[1], allow_zero=False)
            object.__setattr__(self, "outage", tuple(self.outage))
        object.__setattr__(self, "workspace_quotas", _check_quotas(self.workspace_quotas))
        aliases: object = self.workspace_aliases
        if isinstance(aliases, str) or not isinstance(aliases, tuple | list):
            raise ValueError(f"workspace_aliases must be a tuple of UUIDs, got {aliases!r}")
        checked = _check_quotas(tuple((ws, 1.0, 1) for ws in aliases))
        object.__setattr__(self, "workspace_aliases", tuple(ws for ws, _, _ in checked))


def _check_quotas(quotas: object) -> tuple[tuple[str, float, int], ...]:
    """Validate ``workspace_quotas``; return them with each workspace id in canonical form."""
    if isinstance(quotas, str) or not isinstance(quotas, tuple | list):
        raise ValueError(
            f"workspace_quotas must be (workspace, rate, burst) triples, got {quotas!r}"
        )
    found: dict[str, tuple[str, float, int]] = {}
    for quota in quotas:
        if not isinstance(quota, tuple | list) or len(quota) != 3:
            raise ValueError(f"a workspace quota is (workspace, rate, burst), got {quota!r}")
        workspace, rate, burst = quota
        try:
            key = str(uuid.UUID(str(workspace)))
        except ValueError:
            raise ValueError(
                f"a workspace quota's workspace must be a UUID, got {workspace!r}"
            ) from None
        _check_seconds("a workspace quota's rate", rate, allow_zero=False)
        _check_positive_int("a workspace quota's burst", burst)
        if key in found:
            raise ValueError(f"workspace {key} has two quotas")
        found[key] = (key, float(rate), burst)
    return tuple(found.values())


def _no_headers() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """One queued answer for one call id; it bypasses the rate limiter and faults.

    Attributes:
        status: HTTP status to send.
        body: Body to send. ``None`` means the dataset's body for a 200 (the normal
            answer if the call is not in the dataset) and a JSON error body otherwise.
        headers: Extra response headers; they override the defaults (``Content-Type``).
        action: ``"respond"`` sends the answer; ``"reset"`` aborts the connection;
            ``"truncate"`` sends half the body and closes; ``"slow"`` waits
            ``Faults.slow_seconds`` first.
        delay: Seconds to wait before acting, on top of the configured latency.
    """

    status: int = 200
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=_no_headers)
    action: ScriptAction = "respond"
    delay: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise ValueError(f"status must be an integer HTTP status, got {self.status!r}")
        if not _MIN_STATUS <= self.status <= _MAX_STATUS:
            raise ValueError(f"status must be between 100 and 599, got {self.status}")
        if self.body is not None and not isinstance(self.body, bytes):
            raise ValueError(f"body must be bytes or None, got {type(self.body).__name__}")
        if self.action not in _ACTIONS:
            raise ValueError(f"action must be one of {sorted(_ACTIONS)}, got {self.action!r}")
        _check_seconds("delay", self.delay)
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
