"""A rate limit shared by a fleet of processes, kept in Redis: `RedisRateLimiter`.

Bird's quota is per account: every process using the same credential draws on it. A
local `TokenBucketLimiter` per process either overruns it or is set far below it;
`RedisRateLimiter` implements the same `RateLimiter` protocol against one limit that all
workers share, so ``Client(limiter=RedisRateLimiter(...))`` is the only change.

How a grant is decided. One Lua script (``_gcra``) keeps the limit in Redis, atomically,
on Redis's clock: the next free slot, and the end of a pause during which it refuses
every grant, for every worker. A worker writes a pause only when a response shows the
quota exhausted (`asyncsdk.ratelimit._throttling.classify`, the same rules as the local
limiter): the server states it, or the throttling this worker sees is correlated. A
sporadic 429 makes only its own request wait its ``Retry-After``: one worker's unlucky
answer does not stop the fleet.

Reserve, then sleep; cancel-safety; pauses: ``_slots`` has how a process's waiters get
their slots from Redis, and why the fleet stays within ``burst + rate * (t + d)``, ``d``
being how late a timer fires, even when waiters are cancelled.

One limit per workspace. Bird's quota is per workspace, and one credential may serve
several. A `Client` asks its limiter for each workspace's child
(`RedisRateLimiter.for_workspace`): the same settings (the rate from ``workspace_rates``
if it names the workspace), its own Redis key ``asyncsdk:ratelimit:<key>:<workspace
id>``, its own tally, pause and fallback. So every worker of the fleet draws on the same
limit for a workspace, a pause written for one workspace stops that workspace fleet-wide
and no other, and the client keeps the children it uses (bounded by its
``max_workspaces``). Used directly, without a client, the limiter itself is one limit
under ``<key>``. Idle keys expire in Redis, so a fleet touching many workspaces leaves
no keys behind.

The limit is the user's decision: it is not adapted. Each worker's responses are tallied
only to tell sporadic throttling from an exhausted quota. When Redis fails, requests do
not fail: the process paces itself with a local bucket at ``fallback_share * rate`` (or,
with ``fail_closed=True``, sends nothing) and probes Redis every ``probe_interval``
seconds; ``_fallback`` has the rules, and how a fleet rejoins without overrunning the
limit. ``_fleet_args`` checks the settings and names the keys.

Imports: redis-py (through ``_gcra``), the standard library, the package's `errors`, and
this subpackage's ``_throttling``, ``_gcra``, ``_slots``, ``_fallback`` and
``_fleet_args``. Nothing in the core imports this module.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Final

from ..errors import ClientClosedError, ConfigurationError
from ._fallback import LimiterMode, fallback_bucket
from ._fleet_args import (
    KEY_PREFIX,
    canonical_workspace,
    check_settings,
    check_workspace_rates,
    derive_key,
    limit_name,
)
from ._gcra import US, aioredis
from ._slots import MAX_BATCH, _Slots
from ._throttling import (
    CORRELATED_COOLDOWN,
    CORRELATED_PAUSE,
    OUTAGE_PAUSE,
    Tally,
    Verdict,
    classify,
    exhausted_for,
    outage,
)

__all__ = [
    "DEFAULT_FALLBACK_SHARE",
    "DEFAULT_PROBE_INTERVAL",
    "DEFAULT_REDIS_TIMEOUT",
    "KEY_PREFIX",
    "MAX_BATCH",
    "LimiterMode",
    "RedisRateLimiter",
    "derive_key",
]

#: Share of the rate a process may use on its own while Redis is unreachable.
DEFAULT_FALLBACK_SHARE: Final = 0.25
#: Seconds one Redis command may take before Redis counts as unavailable.
DEFAULT_REDIS_TIMEOUT: Final = 0.25
#: Seconds between attempts to reach Redis again during an outage.
DEFAULT_PROBE_INTERVAL: Final = 1.0
#: Longest pause, in seconds, a server response can impose on the fleet.
DEFAULT_MAX_PAUSE: Final = 60.0


class RedisRateLimiter(_Slots):
    """A `RateLimiter` whose limit is shared, through Redis, by every process using it.

    Every process that should share one quota creates its own limiter with the same
    ``key`` (or ``credential``), ``rate`` and ``burst``, and passes it to its `Client`
    (``Client(limiter=...)``). See the module docstring for the algorithm and bounds.

    Args:
        redis: A ``redis://`` URL (the limiter creates the connection pool and closes it
            in `aclose`), or a ``redis.asyncio.Redis`` client (left open).
        rate: Requests per second for the whole fleet.
        burst: Requests the fleet may send back to back after an idle spell.
        key: Name of the shared limit; the Redis key is ``asyncsdk:ratelimit:<key>``.
        credential: The Bird credential, used only to derive ``key`` when none is
            given (sha256, see `derive_key`); never stored or sent.
        fallback_share: Share of ``rate`` this process may use alone while Redis is
            unavailable (1 / the number of workers keeps the fleet within the quota).
        fail_closed: While Redis is unavailable send nothing, instead of falling back.
        timeout: Seconds a Redis command may take before Redis counts as unavailable.
        probe_interval: Seconds between attempts to reach Redis during an outage.
        max_pause: Longest pause, in seconds, a server response can impose.
        workspace_rates: Requests per second of the workspaces whose quota differs
            from ``rate`` (a raised quota), by workspace id; used by `for_workspace`.

    Raises:
        ConfigurationError: A setting is invalid, or neither ``key`` nor ``credential``
            was given.
    """

    __slots__ = (
        "__weakref__",
        "_burst",
        "_children",
        "_name",
        "_owns_redis",
        "_quiet_until",
        "_tally",
        "_task",
        "_workspace_rates",
    )

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        rate: float,
        burst: int = 1,
        key: str | None = None,
        credential: str | None = None,
        fallback_share: float = DEFAULT_FALLBACK_SHARE,
        fail_closed: bool = False,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        max_pause: float = DEFAULT_MAX_PAUSE,
        workspace_rates: Mapping[str, float] | None = None,
    ) -> None:
        check_settings(
            rate=rate,
            burst=burst,
            fallback_share=fallback_share,
            timeout=timeout,
            probe_interval=probe_interval,
            max_pause=max_pause,
        )
        key = limit_name(key, credential)
        self._workspace_rates = check_workspace_rates(workspace_rates)
        if isinstance(redis, str):
            self._redis: aioredis.Redis = aioredis.Redis.from_url(
                redis, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            self._owns_redis = True
        elif isinstance(redis, aioredis.Redis):
            self._redis = redis
            self._owns_redis = False
        else:
            raise ConfigurationError(
                f"redis must be a redis:// URL or a redis.asyncio.Redis, got {type(redis).__name__}"
            )
        self._name = key
        self._key = KEY_PREFIX + key
        self._rate = float(rate)
        self._burst = burst
        self._interval_us = US / self._rate
        self._tolerance_us = (burst - 1) * self._interval_us
        self._fallback_share = float(fallback_share)
        self._fail_closed = fail_closed
        self._timeout = float(timeout)
        self._probe_interval = float(probe_interval)
        self._max_pause = float(max_pause)
        self._fallback = fallback_bucket(self._rate, burst, self._fallback_share)
        self._mode = LimiterMode.REDIS
        self._outages = 0
        self._script_loads = 0
        self._degraded_at = 0.0
        self._next_probe = 0.0
        self._rejoin_until = -math.inf
        self._tally = Tally()
        self._quiet_until = -math.inf  # no correlated fleet pause before (module doc)
        self._paused_until = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._children: weakref.WeakSet[RedisRateLimiter] = weakref.WeakSet()
        self._parent: RedisRateLimiter | None = None  # set on a workspace's limiter
        self._degraded = 0  # limiters of this family in fallback now (one WARNING each time)

    # --- state, for reports and tests ---

    @property
    def key(self) -> str:
        """The Redis key holding the shared limit."""
        return self._key

    @property
    def rate(self) -> float:
        """The fleet's rate, requests per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Requests the fleet may send back to back."""
        return self._burst

    @property
    def mode(self) -> LimiterMode:
        """Whether grants come from Redis, from the fallback, or the limiter is closed.

        `FALLBACK` also while any of its workspaces' limiters (`for_workspace`) is.
        """
        if self._mode is LimiterMode.REDIS and self._degraded:
            return LimiterMode.FALLBACK
        return self._mode

    @property
    def outages(self) -> int:
        """How many times Redis became unavailable (one WARNING was logged for each).

        Counted once for this limiter and its workspaces' limiters together: an outage
        seen by several workspaces at once is one.
        """
        return self._outages

    @property
    def script_loads(self) -> int:
        """How many times the script was (re)loaded after a ``NOSCRIPT`` reply.

        Its workspaces' limiters' loads included.
        """
        return self._script_loads

    @property
    def waiting(self) -> int:
        """How many tasks of this process are waiting in `acquire` (its workspaces' too)."""
        return self._own_waiting() + sum(child.waiting for child in list(self._children))

    def __repr__(self) -> str:
        return (
            f"<RedisRateLimiter key={self._key!r} rate={self._rate:g}/s burst={self._burst} "
            f"mode={self._mode.value} waiting={self.waiting} outages={self._outages} "
            f"fallback={'closed' if self._fail_closed else f'{self._fallback_share:g} share'}>"
        )

    def for_workspace(self, workspace_id: str) -> RedisRateLimiter:
        """Return a limiter for one workspace: these settings, a key of its own.

        The key is ``<this key>:<workspace id>``, so every worker asking for the same
        workspace shares its limit and its pauses, and no other workspace's. The rate
        is ``workspace_rates[workspace_id]`` if given, else ``rate``. The child uses
        this limiter's Redis connection and is closed with it, and is of this limiter's
        class. `Client` calls this once per workspace it uses (see
        `asyncsdk.ratelimit.PerWorkspaceLimiter`).

        Raises:
            ClientClosedError: This limiter is closed.
            ConfigurationError: ``workspace_id`` is not a UUID.
        """
        if self._mode is LimiterMode.CLOSED:
            raise ClientClosedError("this RedisRateLimiter is closed; create a new one")
        workspace = canonical_workspace(workspace_id)
        # The child is of this limiter's own class, so a subclass's hooks (a recording
        # acquire, say) apply to every workspace as they did to the one shared limiter.
        child = type(self)(
            self._redis,
            rate=self._workspace_rates.get(workspace, self._rate),
            burst=self._burst,
            key=f"{self._name}:{workspace}",
            fallback_share=self._fallback_share,
            fail_closed=self._fail_closed,
            timeout=self._timeout,
            probe_interval=self._probe_interval,
            max_pause=self._max_pause,
        )
        child._parent = self
        self._children.add(child)
        return child

    # --- the protocol ---

    async def acquire(self) -> None:
        """Wait until the fleet's limit admits one more request, first come first served.

        Raises:
            ClientClosedError: The limiter is closed (also raised in waiters it closes).
        """
        if self._mode is LimiterMode.CLOSED:
            raise ClientClosedError("this RedisRateLimiter is closed; create a new one")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._dispatch(), name="asyncsdk-redis-limiter")
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._grant(1)  # granted, then cancelled before it ran: pass the slot on
            raise

    def on_success(self, headers: Mapping[str, str]) -> None:
        """Pause the fleet when the server says the quota is used up (``Remaining: 0``)."""
        self._tally.response(asyncio.get_running_loop().time(), False)
        seconds = exhausted_for(headers)
        if seconds is None:
            return
        until = self._pause_locally(seconds)
        if until is not None and self._mode is LimiterMode.REDIS:
            self._spawn(self._write_pause(seconds))

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """Pause every worker when the quota is exhausted; else only this request waits.

        See the module docstring for the rule. The pause (the stated reset, or the
        ``Retry-After`` of correlated throttling; capped at ``max_pause``) is written to
        Redis, where every worker's next grant checks it, and kept locally as well, so it
        holds in this process even if Redis is unavailable.
        """
        now = asyncio.get_running_loop().time()
        self._tally.response(now, True)
        exhausted = exhausted_for(headers)
        verdict = classify(self._tally, now, exhausted=exhausted, quiet_until=self._quiet_until)
        if verdict is Verdict.SPORADIC:
            return
        if verdict is Verdict.EXHAUSTED:
            assert exhausted is not None
            seconds = exhausted  # the stated reset, not the whole-second Retry-After
        else:
            seconds = CORRELATED_PAUSE if retry_after is None else retry_after
            self._quiet_until = now + min(seconds, self._max_pause) + CORRELATED_COOLDOWN
        if self._pause_locally(seconds) is not None and self._mode is LimiterMode.REDIS:
            await self._write_pause(seconds)

    def on_failure(self, *, server: bool = True) -> None:
        """Record a failed request; in an outage, pause this process (module doc).

        Not written to Redis: each worker sees the outage in its own answers.

        Args:
            server: The server failed it; ``False`` when this client gave up on it.
        """
        if not server:
            return
        now = asyncio.get_running_loop().time()
        self._tally.failure(now)
        if now >= self._paused_until and outage(self._tally, now):
            self._pause_locally(OUTAGE_PAUSE)

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait, by this process's view (estimate).

        The pause this process knows of, plus its own queue at the fleet's rate (at its
        fallback share while Redis is unavailable). The other workers' queues are not
        seen, so on a busy fleet the real wait is longer.
        """
        now = asyncio.get_running_loop().time()
        rate = self._rate if self._mode is LimiterMode.REDIS else self._fallback.rate or self._rate
        return max(0.0, self._paused_until - now) + self._own_waiting() / rate

    # --- lifecycle ---

    async def aclose(self) -> None:
        """Stop granting, fail the waiters with `ClientClosedError`, close an owned pool.

        Also closes the workspaces' limiters made by `for_workspace`. Idempotent. A
        ``redis.asyncio.Redis`` passed in by the caller is left open.
        """
        if self._mode is LimiterMode.CLOSED:
            return
        if self._mode is LimiterMode.FALLBACK and self._parent is not None:
            self._parent._degraded = max(0, self._parent._degraded - 1)
        self._mode = LimiterMode.CLOSED
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_waiters(ClientClosedError("the RedisRateLimiter was closed"))
        children = list(self._children)
        await asyncio.gather(*(child.aclose() for child in children))
        if self._owns_redis:
            await self._redis.aclose()
