"""Throttling rules: what the server says about the quota, and how the sending rate reacts.

Pure logic, no I/O and no event loop: every method takes the time (seconds, any
monotonic clock) as an argument, so each rule is tested event by event on a fake clock.
`asyncsdk.ratelimit.TokenBucketLimiter` and `asyncsdk.ratelimit.fleet.RedisRateLimiter`
hold the mechanics (buckets, timers, the Redis script) and call these rules.

The failure these rules exist to avoid: a loss-driven controller that cuts its rate on
every rejection collapses when rejections are random rather than caused by its own rate
(TCP under random loss falls as ``1/sqrt(p)``, the Mathis model), and a client that also
pauses everyone on each rejection compounds it. Measured on this SDK before these rules:
10 % of 429s that did not depend on the rate held a client at 4 requests/s. The rules
borrow from BBR (the rate is a measured delivery rate, not a reaction to each loss),
Google SRE's client-side throttling (react to the *share* of rejections over a window,
not to each one), and CUBIC (regrowth around the last good rate). The evidence behind
each threshold is in ``docs/throttling.md`` and the throttling lab in ``benchmarks/``.

The rules, one module each: what the server states (``_headers``: `exhausted_for`,
`parse_policy`), who waits and when the server is down (``_verdicts``: `classify`,
`outage`, over a `Tally` of recent outcomes), and the rate, by one of two controllers:

- `SharedRateController` (``_shared_rate``), the *discovered* rate of a limiter with no
  configured rate: a common start at Bird's documented 50/s, Kelly's regrowth (shares
  converge), and burst tests (``_bursts``) that tell a quota held at its limit from
  sporadic 429s; its start tests are ``_shared_start`` and its state ``_shared_state``.
- `RateController` (``_rate``), the *configured* rate (``rate_limit=R``, or a fixed
  pace): composed of its phases: ``_state`` (the evidence every phase reads),
  ``_regrowth`` (doubling, CUBIC), ``_cuts`` (cut, verify, undo) and ``_startup``
  (probe to the first limit, for a controller built with no rate).

Fleets: each process applies these rules to its own responses. A
`RedisRateLimiter` writes a pause to Redis (where every worker sees it) only for an
exhausted or correlated verdict; a sporadic 429 delays only the request that got it.
Processes that share a quota *without* a shared limiter each apply the discovered rate
alone; its regrowth makes their shares converge and its bursts keep a process from
learning the others' 429s as its own ambient share (``docs/throttling-research.md``
has the nine rounds of evidence).

Imports: the standard library only (through the modules of this package).
"""

from ._headers import exhausted_for, parse_policy
from ._rate import MIN_RATE, Phase, RateController
from ._shared_rate import SharedRateController
from ._verdicts import (
    CORRELATED_COOLDOWN,
    CORRELATED_PAUSE,
    CORRELATED_SHARE,
    OUTAGE_PAUSE,
    Tally,
    Verdict,
    classify,
    excess_threshold,
    outage,
)

#: The rate rules a `TokenBucketLimiter` applies: a configured rate's, or a discovered one's.
Controller = RateController | SharedRateController

__all__ = [
    "CORRELATED_COOLDOWN",
    "CORRELATED_PAUSE",
    "CORRELATED_SHARE",
    "MIN_RATE",
    "OUTAGE_PAUSE",
    "Controller",
    "Phase",
    "RateController",
    "SharedRateController",
    "Tally",
    "Verdict",
    "classify",
    "excess_threshold",
    "exhausted_for",
    "outage",
    "parse_policy",
]
