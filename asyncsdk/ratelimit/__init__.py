"""Rate limits: the limiter protocol, the local bucket, the fleet limiter and the rules.

- `_contract`: the `RateLimiter` protocol (what the client calls, and when) and
  `PerWorkspaceLimiter`, with the rules every limiter follows.
- `_bucket`: `TokenBucketLimiter`, the mechanics of one process's limiter (tokens,
  timers, who waits).
- `_workspaces`: a limiter per workspace for one client, created on first use, with
  an LRU of idle ones (Bird's quota is per workspace).
- `_throttling/`: the throttling rules, no I/O: what the server states, who waits,
  cuts and their undo, the floor, outages, the sending rate.
- `fleet`: `RedisRateLimiter`, one limit shared by a fleet of processes through
  Redis. A public module of its own because it needs the ``redis`` extra: importing
  this subpackage (or ``asyncsdk``) never imports redis. Its parts: `_gcra` (the Lua
  script and its call), `_slots` (a process's waiters, their slots, the pauses),
  `_fallback` (while Redis is unavailable) and `_fleet_args` (settings and keys).

Imports: the standard library and the package's `errors`; `fleet` also redis-py.
"""

from ._bucket import MIN_ADAPTIVE_RATE, TokenBucketLimiter, parse_policy
from ._contract import PerWorkspaceLimiter, RateLimiter

__all__ = [
    "MIN_ADAPTIVE_RATE",
    "PerWorkspaceLimiter",
    "RateLimiter",
    "TokenBucketLimiter",
    "parse_policy",
]
