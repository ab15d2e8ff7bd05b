"""Who waits after a throttling answer, and when the server is down: the tally and verdicts.

A 429 (or 503 with ``Retry-After``) makes the request that
got it wait its own ``Retry-After`` before its retry. It pauses *every* request of the
client (of the fleet, with Redis) only when the quota is exhausted:

- the server says so: ``RateLimit-Remaining: 0`` / ``X-RateLimit-Remaining: 0`` with a
  reset, or a ``RateLimit`` header (IETF draft) with ``r=0`` (`exhausted_for`); the pause
  lasts until the stated reset;
- or the throttling is correlated: at least `CORRELATED_SHARE` (half) of the last
  second's responses (at least `CORRELATED_MIN_RESPONSES` of them, looking back up to
  two seconds at a low rate) are 429s; or
  `CORRELATED_STREAK` 429s in a row with no success between them (they arrive together).
  The pause lasts the response's ``Retry-After``.

Half is Google SRE's default (with K = 2, rejections above 1 - 1/K trigger shedding).
Sporadic throttling of 10 % to 30 %, independent of the rate, stays below it with room
for noise (in a window of 20 responses the 99th percentile of a 30 % share is 55 %, of a
10 % share 30 %); sending twice the limit gives exactly half. A run of 10 has a chance of
1e-10 at a 10 % share, 1e-4 at 40 %.

Outages (`outage`): Server errors (5xx) and attempts without an answer are neither accepted
nor throttled: they move no rate. But when nearly all attempts fail (`OUTAGE_SHARE`,
90 %, of the last second's, ten or more), the server is down, and sending fresh
requests at full pace only turns each into an error (measured: a 10 s outage ended a
third of a bulk run's calls as errors at 200/s, where a per-call backoff loop lost 5 %).
Every request then waits `OUTAGE_PAUSE`; the first after it probes again, and the first
answer that is not a failure lets everyone go at the rate they had. The retry budget
(`asyncsdk.retry`) meanwhile stops the retries.

Imports: the standard library only.
"""

from __future__ import annotations

import enum
import math
from typing import Final

__all__ = [
    "CORRELATED_COOLDOWN",
    "CORRELATED_PAUSE",
    "CORRELATED_SHARE",
    "OUTAGE_PAUSE",
    "Tally",
    "Verdict",
    "classify",
    "excess_threshold",
    "outage",
]

# --- the tally -------------------------------------------------------------------------
#: Seconds per bucket of the tally, and buckets kept (two seconds of history).
BUCKET_SECONDS: Final = 0.05
BUCKETS: Final = 40
# --- who waits -------------------------------------------------------------------------
#: Share of 429s among the last second's responses from which throttling is correlated.
CORRELATED_SHARE: Final = 0.5
#: Responses the last second must hold before its share can say "correlated".
CORRELATED_MIN_RESPONSES: Final = 20
#: Seconds of responses the correlated share is measured over.
CLASSIFY_SECONDS: Final = 1.0
#: 429s in a row, no success between them, that are correlated whatever the share.
CORRELATED_STREAK: Final = 10
#: An outage: at least `OUTAGE_SHARE` of the attempts that ended in the last
#: `OUTAGE_SECONDS`, `OUTAGE_MIN_ATTEMPTS` or more, failed (no answer, or 5xx). Every
#: request then waits `OUTAGE_PAUSE`; the first after it probes the server again.
OUTAGE_SHARE: Final = 0.9
OUTAGE_SECONDS: Final = 1.0
OUTAGE_MIN_ATTEMPTS: Final = 10
OUTAGE_PAUSE: Final = 1.0
#: Seconds after a correlated pause during which throttling pauses no one again: the
#: rate's cuts answer it (each pause costs the server's whole-second ``Retry-After``).
CORRELATED_COOLDOWN: Final = 2.0
#: Seconds every request waits after correlated throttling whose answer had no
#: ``Retry-After``: the shortest wait a server can ask for in whole seconds.
CORRELATED_PAUSE: Final = 1.0
#: A share is excess when above ambient + Z * sd + slack (binomial sd, at least 1 %).
EXCESS_Z: Final = 2.5
EXCESS_SLACK: Final = 0.01


# --- a window of recent outcomes ---------------------------------------------------------


class Tally:
    """Grants, accepted and throttled responses in `BUCKET_SECONDS` buckets, two seconds.

    Recording is O(1): an increment inside the current bucket, a few zeroed buckets when
    time moves on. `streak` counts 429s in a row.
    """

    __slots__ = ("_failed", "_grants", "_index", "_ok", "_throttled", "streak")

    def __init__(self) -> None:
        self._grants = [0] * BUCKETS
        self._ok = [0] * BUCKETS
        self._throttled = [0] * BUCKETS
        self._failed = [0] * BUCKETS
        self._index = -1  # absolute bucket number of the newest bucket
        self.streak = 0

    def _advance(self, now: float) -> int:
        index = int(now / BUCKET_SECONDS)
        if index > self._index:
            for i in range(max(self._index + 1, index - BUCKETS + 1), index + 1):
                slot = i % BUCKETS
                self._grants[slot] = self._ok[slot] = self._throttled[slot] = 0
                self._failed[slot] = 0
            self._index = index
        return index % BUCKETS

    def grant(self, now: float) -> None:
        """Count one request let through at ``now``."""
        self._grants[self._advance(now)] += 1

    def response(self, now: float, throttled: bool) -> None:
        """Count one response at ``now``."""
        slot = self._advance(now)
        if throttled:
            self._throttled[slot] += 1
            self.streak += 1
        else:
            self._ok[slot] += 1
            self.streak = 0

    def failure(self, now: float) -> None:
        """Count one attempt that failed at ``now``: no answer, or a server error."""
        self._failed[self._advance(now)] += 1

    def failures(self, now: float, seconds: float) -> tuple[int, int]:
        """``(failed, attempts ended)`` over the last ``seconds`` (whole buckets)."""
        newest = self._advance(now)
        failed = ended = 0
        for step in range(min(BUCKETS, math.ceil(seconds / BUCKET_SECONDS) + 1)):
            slot = (newest - step) % BUCKETS
            failed += self._failed[slot]
            ended += self._failed[slot] + self._ok[slot] + self._throttled[slot]
        return failed, ended

    def counts(
        self, now: float, seconds: float, *, responses: int = 0, since: float = -math.inf
    ) -> tuple[int, int, int, float]:
        """Sum the buckets back from ``now``: ``(grants, ok, throttled, span)``.

        Goes back at least ``seconds`` and until ``responses`` responses are counted
        (within the two seconds kept), never before ``since``. The current bucket
        counts for the part of it that has elapsed; ``span`` is the time covered.
        """
        newest = self._advance(now)
        grants = ok = throttled = 0
        span = now - self._index * BUCKET_SECONDS  # the current bucket, so far
        step = 0
        while step < BUCKETS:
            slot = (newest - step) % BUCKETS
            grants += self._grants[slot]
            ok += self._ok[slot]
            throttled += self._throttled[slot]
            step += 1
            start = (self._index - step + 1) * BUCKET_SECONDS
            if start <= since or (span >= seconds and ok + throttled >= responses):
                break
            span += BUCKET_SECONDS
        return grants, ok, throttled, max(span, 1e-3)


# --- who waits ---------------------------------------------------------------------------


class Verdict(enum.Enum):
    """What a throttling response says about the quota (see the module docstring)."""

    #: The server stated the quota is used up: everyone waits until the reset.
    EXHAUSTED = "exhausted"
    #: Much of the recent traffic is throttled: everyone waits the ``Retry-After``.
    CORRELATED = "correlated"
    #: Only the throttled request waits its own ``Retry-After``.
    SPORADIC = "sporadic"


def classify(
    tally: Tally, now: float, *, exhausted: float | None, quiet_until: float = -math.inf
) -> Verdict:
    """Decide who waits after a throttling response recorded in ``tally`` at ``now``.

    Args:
        tally: Recent outcomes, the throttling response included.
        now: The time of the response.
        exhausted: `exhausted_for` of its headers.
        quiet_until: Before this time only a stated exhaustion pauses everyone: the
            end of the last correlated pause plus `CORRELATED_COOLDOWN`, during which
            the rate's cuts, not more pauses, answer the throttling.
    """
    if exhausted is not None:
        return Verdict.EXHAUSTED
    if now < quiet_until:
        return Verdict.SPORADIC
    if tally.streak >= CORRELATED_STREAK:
        return Verdict.CORRELATED
    _, ok, throttled, _ = tally.counts(now, CLASSIFY_SECONDS, responses=CORRELATED_MIN_RESPONSES)
    total = ok + throttled
    if total >= CORRELATED_MIN_RESPONSES and throttled >= CORRELATED_SHARE * total:
        return Verdict.CORRELATED
    return Verdict.SPORADIC


def outage(tally: Tally, now: float) -> bool:
    """Tell whether the server is down: nearly every recent attempt failed (module doc)."""
    failed, ended = tally.failures(now, OUTAGE_SECONDS)
    return ended >= OUTAGE_MIN_ATTEMPTS and failed >= OUTAGE_SHARE * ended


def excess_threshold(ambient: float, responses: int) -> float:
    """The share of 429s above which, out of ``responses``, throttling exceeds ``ambient``."""
    p = max(ambient, 0.01)
    return ambient + EXCESS_Z * math.sqrt(p * (1.0 - p) / max(responses, 1)) + EXCESS_SLACK
