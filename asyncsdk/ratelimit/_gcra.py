"""The fleet limit's Redis side: the GCRA script, and one call of it by SHA.

One Lua script, loaded once and then called by its SHA (``EVALSHA``; on ``NOSCRIPT``
after a restart or ``SCRIPT FLUSH`` it is loaded again), runs GCRA (the generic cell
rate algorithm: a token bucket kept as one timestamp) atomically on the server, with
Redis ``TIME`` as the only clock, so the workers' clocks do not matter. The limit's
state is one hash, ``asyncsdk:ratelimit:<key>``, with two fields in microseconds of
Redis time, and it expires when idle:

* ``tat``, the theoretical arrival time: the virtual time of the next free slot. With
  ``T = 1 / rate`` and ``tau = (burst - 1) * T``, a slot ``v`` may be used from
  ``v - tau`` on; each grant moves ``tat`` on by ``T``.
* ``pause``, the end of a server-driven pause, and the same script call that grants a
  slot refuses every grant, for every worker, until then.

Why not a library limiter: the Redis rate-limit packages on PyPI (``limits``,
``asyncio-redis-rate-limit``, ``aiopylimit`` and others) answer "allowed now?" for a
fixed or sliding window. None reserves a future slot (so pacing is lost to polling
latency and timers), none has a fleet-wide pause written from a ``Retry-After``, none
falls back to a local limit during an outage, and windows admit two windows' worth at
a boundary. The GCRA script is about forty lines; redis-py does the rest.

Imports: redis-py (``redis.asyncio``, the ``redis`` extra) and the standard library.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from typing import Final, cast

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "asyncsdk.ratelimit.fleet needs redis-py: pip install 'asyncsdk[redis]'"
    ) from exc

# aioredis: the connection type, for the modules that must not import redis first.
__all__ = ["REDIS_FAILURES", "US", "aioredis", "run_script"]

#: Microseconds per second: the script's unit of time.
US: Final = 1_000_000

#: Failures that mean "Redis is unavailable", not "this is a bug": connection refused
#: or reset (ConnectionError, which includes BusyLoadingError and AuthenticationError),
#: a command slower than the timeout, and error replies from a Redis that cannot serve
#: the script (ResponseError: NOSCRIPT right after a reload, READONLY after a
#: failover, OOM, MISCONF, BUSY).
REDIS_FAILURES: Final = (
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


async def run_script(
    redis: aioredis.Redis, key: str, op: str, params: tuple[float, ...], seconds: float
) -> tuple[tuple[int, ...], bool]:
    """Run the script's ``op`` on ``key`` by SHA, loading it first if Redis does not have it.

    Args:
        redis: The connection.
        key: The limit's hash (``KEY_PREFIX`` and the limit's name).
        op: ``acquire``, ``release`` or ``pause`` (see the script's header).
        params: The interval and tolerance in microseconds, then the op's own.
        seconds: How long the call may take, the reload included.

    Returns:
        The script's reply as integers, and whether the script had to be loaded again.

    Raises:
        One of `REDIS_FAILURES`: Redis is unavailable.
    """
    interval, tolerance, *args = params
    keys_and_args = [key, op, repr(interval), repr(tolerance), *(str(round(a)) for a in args)]
    loaded = False
    async with asyncio.timeout(seconds):
        try:
            reply = await _evalsha(redis, keys_and_args)
        except redis_errors.NoScriptError:  # restarted or flushed: load it again
            await cast("Awaitable[object]", redis.script_load(_SCRIPT))
            loaded = True
            reply = await _evalsha(redis, keys_and_args)
    if isinstance(reply, int):
        return (reply,), loaded
    if isinstance(reply, list) and all(isinstance(x, int) for x in reply):
        return tuple(reply), loaded
    raise redis_errors.ResponseError(f"unexpected reply from the rate-limit script: {reply!r}")


def _evalsha(redis: aioredis.Redis, keys_and_args: list[str]) -> Awaitable[object]:
    return cast("Awaitable[object]", redis.evalsha(_SCRIPT_SHA, 1, *keys_and_args))
