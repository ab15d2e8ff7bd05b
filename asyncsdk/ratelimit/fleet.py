"""A rate limit shared by a fleet of processes, kept in Redis: `RedisRateLimiter`.

Bird's quota is per account: every process using the same credential draws on it. A
local `TokenBucketLimiter` per process either overruns it or is set far below it;
`RedisRateLimiter` implements the same `RateLimiter` protocol against one limit that all
workers share, so ``Client(limiter=RedisRateLimiter(...))`` is the only change.

How a grant is decided. One Lua script, loaded once and then called by its SHA
(``EVALSHA``; on ``NOSCRIPT`` after a restart or ``SCRIPT FLUSH`` it is loaded again),
runs GCRA (the generic cell rate algorithm: a token bucket kept as one timestamp)
atomically on the server, with Redis ``TIME`` as the only clock, so the workers' clocks
do not matter. The limit's state is one hash, ``asyncsdk:ratelimit:<key>``, with two
fields in microseconds of Redis time, and it expires when idle:

* ``tat``, the theoretical arrival time: the virtual time of the next free slot. With
  ``T = 1 / rate`` and ``tau = (burst - 1) * T``, a slot ``v`` may be used from
  ``v - tau`` on; each grant moves ``tat`` on by ``T``.
* ``pause``, the end of a server-driven pause, and the same script call that grants a
  slot refuses every grant, for every worker, until then. A worker writes one only
  when a response shows the quota exhausted (`asyncsdk.ratelimit._throttling.classify`, the
  same rules as the local limiter): the server states it (``RateLimit-Remaining: 0``
  with a reset, ``RateLimit: r=0``), or the throttling this worker sees is correlated
  (half of its last second's responses, twenty or more, are 429s, or ten in a row). A
  sporadic 429 makes only its own request wait its ``Retry-After``: one worker's
  unlucky answer does not stop the fleet.

Reserve, then sleep. When no slot is free the script reserves the next one and says
how long to wait for it. The schedule thus lives in Redis: a worker whose timer fires
late delays its own request but costs the fleet no capacity, and the long-run rate is
the configured one. Each process keeps its waiters in a local FIFO and one dispatcher
task asks Redis for them (up to `MAX_BATCH` free slots per call), so a process holds
at most one reservation at a time. Over any window of ``t`` seconds the fleet's grants
stay within ``burst + rate * (t + d)``, ``d`` being how late a timer fires.

Cancel-safety. A waiter cancelled while queued takes nothing. A slot whose waiter
went away (cancelled after its reservation, or after its grant) goes to the next
waiter of the same process; with none left it is handed back to Redis when it is still
the fleet's latest reservation, and otherwise goes unused: cancellation can lower
the fleet's rate, never raise it above the bound.

Pauses: a pause reaches every worker at its next call to Redis. A slot a worker
reserved just before the pause was written (at most one per process, due within
about ``processes / rate`` seconds) may still be used.

One limit per workspace. Bird's quota is per workspace, and one credential may serve
several. A `Client` asks its limiter for each workspace's child
(`RedisRateLimiter.for_workspace`): the same settings (the rate from
``workspace_rates`` if it names the workspace), its own Redis key
``asyncsdk:ratelimit:<key>:<workspace id>``, its own tally, pause and fallback. So
every worker of the fleet draws on the same limit for a workspace, a pause written for
one workspace stops that workspace fleet-wide and no other, and the client keeps the
children it uses (bounded by its ``max_workspaces``). Used directly, without a client,
the limiter itself is one limit under ``<key>``. Idle keys expire in Redis, so a fleet
touching many workspaces leaves no keys behind.

The limit is the user's decision: it is not adapted. Each worker's responses are
tallied only to tell sporadic throttling from an exhausted quota.

When Redis fails (refused, reset, slower than ``timeout``, restarted, loading, out of
memory, read-only): requests do not fail. By default the limiter logs one WARNING on
the ``asyncsdk`` logger per outage and paces this process with a local
`TokenBucketLimiter` at ``fallback_share * rate`` (set the share to 1 / the number of
workers to keep the fleet within the quota); every ``probe_interval`` seconds it asks
Redis again, and the first answer puts it back on the shared limit (logged at INFO).
With ``fail_closed=True`` nothing is sent without Redis's grant: requests wait, probing,
until Redis answers (bound the wait with the client's ``Timeout(deadline=...)``).

Rejoining. Processes find Redis again each at its own next probe, up to
``probe_interval`` apart: one already back on the shared limit could take all of it
while the others still send their fallback share (measured: 4 workers at 100/s, Redis
restarted between their probes, sent 133 to 155 requests in the next second). So for
``probe_interval + timeout`` seconds after it rejoins, by when every live process has
probed too, a process takes each grant from Redis *and* from its fallback bucket: the
fleet stays within the fallback bound (``rate * t`` plus one fallback burst per
process, with ``fallback_share = 1 / processes``) until all are back, and within
Redis's bound after. A partial outage, where only some workers lose Redis, costs more:
the cut-off ones send their fallback share on top of the full rate the others share,
up to ``rate * (1 + cut_off * fallback_share)``; `docs/fleet.md` says how to size it.

Why not a library limiter: the Redis rate-limit packages on PyPI (``limits``,
``asyncio-redis-rate-limit``, ``aiopylimit`` and others) answer "allowed now?" for a
fixed or sliding window. None reserves a future slot (so pacing is lost to polling
latency and timers), none has a fleet-wide pause written from a ``Retry-After``, none
falls back to a local limit during an outage, and windows admit two windows' worth at
a boundary. The GCRA script is about forty lines; redis-py does the rest.

Imports: redis-py (``redis.asyncio``, the ``redis`` extra), the standard library, and
this package's errors and `TokenBucketLimiter`. Nothing in the core imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import math
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Final, cast

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asyncsdk.ratelimit.fleet needs redis-py: pip install 'asyncsdk[redis]'"
    ) from exc

from ..errors import ClientClosedError, ConfigurationError
from ._bucket import TokenBucketLimiter
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

logger: Final = logging.getLogger("asyncsdk")

#: Prefix of every Redis key the limiter writes.
KEY_PREFIX: Final = "asyncsdk:ratelimit:"
#: Share of the rate a process may use on its own while Redis is unreachable.
DEFAULT_FALLBACK_SHARE: Final = 0.25
#: Seconds one Redis command may take before Redis counts as unavailable.
DEFAULT_REDIS_TIMEOUT: Final = 0.25
#: Seconds between attempts to reach Redis again during an outage.
DEFAULT_PROBE_INTERVAL: Final = 1.0
#: Longest pause, in seconds, a server response can impose on the fleet.
DEFAULT_MAX_PAUSE: Final = 60.0
#: Most slots one process takes from Redis in one call (when that many are free).
MAX_BATCH: Final = 64
_US: Final = 1_000_000
#: Hex digits of the sha256 of a credential kept in a derived key (128 bits).
_KEY_HASH_DIGITS: Final = 32

#: Failures that mean "Redis is unavailable", not "this is a bug": connection refused
#: or reset (ConnectionError, which includes BusyLoadingError and AuthenticationError),
#: a command slower than the timeout, and error replies from a Redis that cannot serve
#: the script (ResponseError: NOSCRIPT right after a reload, READONLY after a
#: failover, OOM, MISCONF, BUSY).
_REDIS_FAILURES: Final = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ResponseError,
    TimeoutError,
    OSError,
)

# KEYS[1]: the limit's hash. ARGV: op, T (us), tau (us), then per op:
#   acquire n      -> {granted, wait_us, tat}: granted > 0 and wait 0: go now;
#                     granted 1 and wait > 0: one slot reserved, go after wait_us;
#                     granted 0: paused, ask again after wait_us (nothing reserved)
#   release tat n  -> 1 if the n slots ending at tat were the latest and went back
#   pause us       -> {remaining pause in us}
_SCRIPT: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local key, op = KEYS[1], ARGV[1]
local interval, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', key, 'tat', 'pause')
local tat = tonumber(state[1]) or now
local pause = tonumber(state[2]) or 0
local function store(field, value)
  redis.call('HSET', key, field, string.format('%.0f', value))
  local last = math.max(tat, pause)
  redis.call('PEXPIRE', key, math.ceil((last - now) / 1000) + 1000)
end
if op == 'acquire' then
  if pause > now then return {0, pause - now, tat} end
  if tat < now then tat = now end
  local granted, wait = 0, 0
  local free = math.floor((now + tolerance - tat) / interval) + 1
  if free > 0 then
    granted = math.min(tonumber(ARGV[4]), free)
  else
    granted, wait = 1, tat - tolerance - now
  end
  tat = math.floor(tat + granted * interval + 0.5)
  store('tat', tat)
  return {granted, wait, tat}
elseif op == 'release' then
  local expected = tonumber(ARGV[4])
  if tonumber(state[1]) ~= expected then return 0 end
  tat = math.floor(expected - tonumber(ARGV[5]) * interval + 0.5)
  store('tat', tat)
  return 1
elseif op == 'pause' then
  local until_ = now + tonumber(ARGV[4])
  if until_ > pause then
    pause = until_
    store('pause', pause)
  end
  return {pause - now}
end
return redis.error_reply('asyncsdk rate limit script: unknown op ' .. tostring(op))
"""
_SCRIPT_SHA: Final = hashlib.sha1(_SCRIPT.encode(), usedforsecurity=False).hexdigest()


class LimiterMode(enum.Enum):
    """Where a `RedisRateLimiter` takes its grants from."""

    #: The shared limit in Redis.
    REDIS = "redis"
    #: Redis is unavailable: a local bucket (or, failing closed, nothing) until it answers.
    FALLBACK = "fallback"
    #: `RedisRateLimiter.aclose` was called.
    CLOSED = "closed"


def derive_key(credential: str) -> str:
    """Return the default limit name for a credential: a hash of it, never the credential.

    The same credential gives the same name in every process, so workers that share an
    account share its limit without naming it.
    """
    digest = hashlib.sha256(b"asyncsdk-ratelimit\0" + credential.encode()).hexdigest()
    return digest[:_KEY_HASH_DIGITS]


class RedisRateLimiter:
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
        "_background",
        "_burst",
        "_children",
        "_degraded",
        "_degraded_at",
        "_fail_closed",
        "_fallback",
        "_fallback_share",
        "_interval_us",
        "_key",
        "_max_pause",
        "_mode",
        "_name",
        "_next_probe",
        "_outages",
        "_owns_redis",
        "_parent",
        "_paused_until",
        "_probe_interval",
        "_quiet_until",
        "_rate",
        "_redis",
        "_rejoin_until",
        "_script_loads",
        "_tally",
        "_task",
        "_timeout",
        "_tolerance_us",
        "_waiters",
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
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
            raise ConfigurationError(f"rate must be requests per second above 0, got {rate!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigurationError(f"burst must be an int >= 1, got {burst!r}")
        if not isinstance(fallback_share, int | float) or not 0 < fallback_share <= 1:
            raise ConfigurationError(
                f"fallback_share must be in (0, 1], e.g. 1 / workers; got {fallback_share!r}"
            )
        for name, value in (
            ("timeout", timeout),
            ("probe_interval", probe_interval),
            ("max_pause", max_pause),
        ):
            if not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ConfigurationError(f"{name} must be seconds above 0, got {value!r}")
        if key is None:
            if not credential:
                raise ConfigurationError(
                    "pass key='<name of the shared limit>' or credential=<the access key> "
                    "(a hash of it names the limit)"
                )
            key = derive_key(credential)
        elif not isinstance(key, str) or not key:
            raise ConfigurationError(f"key must be a non-empty string, got {key!r}")
        self._workspace_rates = _check_workspace_rates(workspace_rates)
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
        self._interval_us = _US / self._rate
        self._tolerance_us = (burst - 1) * self._interval_us
        self._fallback_share = float(fallback_share)
        self._fail_closed = fail_closed
        self._timeout = float(timeout)
        self._probe_interval = float(probe_interval)
        self._max_pause = float(max_pause)
        local_rate = self._rate * self._fallback_share
        self._fallback = TokenBucketLimiter(
            local_rate, burst=max(1, math.floor(burst * fallback_share)), adaptive=False
        )
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

    def _own_waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

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
        workspace = _canonical_workspace(workspace_id)
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

    # --- internals ---

    async def _dispatch(self) -> None:
        """Take slots from Redis (or the fallback) for the waiters, in order, then exit."""
        try:
            await self._serve_waiters()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: let the waiters see it rather than hang
            self._fail_waiters(exc)

    async def _serve_waiters(self) -> None:
        loop = asyncio.get_running_loop()
        while (wanted := self._own_waiting()) > 0:
            now = loop.time()
            if now < self._paused_until:  # a pause this process saw itself
                await asyncio.sleep(self._paused_until - now)
                continue
            if self._mode is LimiterMode.FALLBACK and now < self._next_probe:
                await self._grant_locally(self._next_probe - now)
                continue
            batch = min(wanted, MAX_BATCH)
            rejoining = self._mode is LimiterMode.FALLBACK or now < self._rejoin_until
            if rejoining and not self._fail_closed:  # within the fallback share too
                await self._fallback.acquire()
                batch = 1
            try:
                granted, wait_us, tat = await self._call("acquire", batch)
            except _REDIS_FAILURES as exc:
                self._redis_failed(exc)
                continue
            if self._mode is LimiterMode.FALLBACK:
                self._redis_back()
            if granted == 0:  # the fleet is paused
                await asyncio.sleep(min(wait_us / _US, self._max_pause))
                continue
            if wait_us > 0:  # one slot reserved: wait for it
                await asyncio.sleep(wait_us / _US)
                if loop.time() < self._paused_until:  # paused meanwhile: hand it back
                    await self._release(tat, granted)
                    continue
            unused = self._grant(granted)
            if unused:
                await self._release(tat, unused)

    async def _grant_locally(self, seconds: float) -> None:
        """During an outage: one grant from the fallback bucket, or none within ``seconds``."""
        if self._fail_closed:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await self._fallback.acquire()
        except TimeoutError:
            return  # time to probe Redis
        self._grant(1)

    def _grant(self, count: int) -> int:
        """Wake up to ``count`` waiters at the head of the queue; return the slots unused."""
        waiters = self._waiters
        while count and waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                count -= 1
        return count

    def _fail_waiters(self, exc: BaseException) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    async def _call(self, op: str, *args: float) -> tuple[int, ...]:
        """Run the script's ``op`` by SHA, loading it first if Redis does not have it.

        Raises:
            One of `_REDIS_FAILURES`: Redis is unavailable.
        """
        keys_and_args = [
            self._key,
            op,
            repr(self._interval_us),
            repr(self._tolerance_us),
            *(str(round(a)) for a in args),
        ]
        async with asyncio.timeout(self._timeout):
            try:
                reply = await self._evalsha(keys_and_args)
            except redis_errors.NoScriptError:  # restarted or flushed: load it again
                await cast("Awaitable[object]", self._redis.script_load(_SCRIPT))
                self._script_loads += 1
                if self._parent is not None:
                    self._parent._script_loads += 1
                reply = await self._evalsha(keys_and_args)
        if isinstance(reply, int):
            return (reply,)
        if isinstance(reply, list) and all(isinstance(x, int) for x in reply):
            return tuple(reply)
        raise redis_errors.ResponseError(f"unexpected reply from the rate-limit script: {reply!r}")

    def _evalsha(self, keys_and_args: list[str]) -> Awaitable[object]:
        return cast("Awaitable[object]", self._redis.evalsha(_SCRIPT_SHA, 1, *keys_and_args))

    async def _release(self, tat: int, count: int) -> None:
        """Hand ``count`` unused slots back, if they are still the fleet's latest (best effort)."""
        with contextlib.suppress(*_REDIS_FAILURES):  # else they go unused: never an overrun
            await self._call("release", tat, count)

    def _pause_locally(self, seconds: float) -> float | None:
        """Pause this process; return the new end (loop time), or None if it is not later."""
        seconds = min(max(seconds, 0.0), self._max_pause)
        if seconds <= 0:
            return None
        until = asyncio.get_running_loop().time() + seconds
        if until <= self._paused_until:
            return None
        self._paused_until = until
        return until

    async def _write_pause(self, seconds: float) -> None:
        """Write a pause of ``seconds`` (from Redis's now) where every worker checks it."""
        pause = min(max(seconds, 0.0), self._max_pause)
        try:
            await self._call("pause", pause * _US)
        except _REDIS_FAILURES as exc:
            self._redis_failed(exc)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _redis_failed(self, exc: BaseException) -> None:
        now = asyncio.get_running_loop().time()
        self._next_probe = now + self._probe_interval
        if self._mode is not LimiterMode.REDIS:
            return  # a probe failed: the same outage
        self._mode = LimiterMode.FALLBACK
        self._degraded_at = now
        family = self._parent or self
        family._degraded += 1
        if family is not self:
            self._outages += 1
        if family._degraded > 1:
            return  # the same outage, already logged by another workspace's limiter
        family._outages += 1
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._fail_closed:
            then = "holding requests until it answers (fail_closed)"
        else:
            then = (
                f"pacing this process at {self._fallback.rate:g}/s "
                f"({self._fallback_share:g} of {self._rate:g}/s) until it answers"
            )
        logger.warning("rate limit %s: Redis unavailable (%s); %s", family._key, what, then)

    def _redis_back(self) -> None:
        self._mode = LimiterMode.REDIS
        now = asyncio.get_running_loop().time()
        if not self._fail_closed:  # failing closed, nobody sent meanwhile
            self._rejoin_until = now + self._probe_interval + self._timeout
        family = self._parent or self
        family._degraded = max(0, family._degraded - 1)
        if family._degraded == 0:
            down = now - self._degraded_at
            logger.info("rate limit %s: Redis answers again after %.1f s", family._key, down)


def _canonical_workspace(workspace_id: object) -> str:
    """Return a workspace id as a canonical lower-case UUID, for a key every worker agrees on."""
    try:
        return str(uuid.UUID(str(workspace_id)))
    except ValueError:
        raise ConfigurationError(f"a workspace id must be a UUID, got {workspace_id!r}") from None


def _check_workspace_rates(rates: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``workspace_rates``; key them by canonical workspace id."""
    if rates is None:
        return {}
    if not isinstance(rates, Mapping):
        raise ConfigurationError(
            f"workspace_rates must map workspace ids to requests per second, got {rates!r}"
        )
    found: dict[str, float] = {}
    for workspace, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
            raise ConfigurationError(
                f"workspace_rates[{workspace!r}] must be requests per second above 0, got {rate!r}"
            )
        found[_canonical_workspace(workspace)] = float(rate)
    return found
