"""The discovered rate, `SharedRateController`: a rate found by a client that may share its quota.

The problem it solves: processes that share one quota without a shared limiter each
see 429s, and a share of 429s alone cannot tell a process holding most of a shared
quota from a client facing 429s that do not depend on its rate (sporadic 429s). A
limiter at its limit can: it refuses most of a burst of requests sent at once, where
sporadic 429s refuse one or two (``_bursts``). The rules:

- **start**: the first request probes the round trip; the rate starts at the larger of
  Bird's documented 50/s and one request per round trip (read as 1 ms at least), in
  cruise at once. The first
  re-entry needs a 2 s quiet window. No correlated pause: a 429 holds back only the
  request that got it.
- **regrowth** (Kelly's primal algorithm), per answer: a 429 takes 4/s off, an accepted
  answer adds ``4 a / (1 - a)`` where ``a`` is the ambient share plus two standard
  errors (at most a half), so the rate settles where the share of 429s equals the
  ambient share; per second, 6/s more, never past twice the rate sent plus one. A
  burst's own answers do not move it.
- **heavy cut**: a 429 with at least half of the last 20 answers since the rate last
  changed (counted in whole tally buckets) refused cuts at once
  to the accepted rate (at least the accepted rate of the last half second).
- **re-entry**: no excess of 429s over the ambient share (plus two standard errors)
  for 2 s (x 2 after each refused re-entry, up to 16 s) over at least 24 answers
  begins a start test (``_shared_start``).
- **floor test**: in cruise, 1.5 s after the regrowth began, a rate at or below half
  the start's with 7.5 points of 429s over the ambient share over at least 40 answers
  (at most every 2 s) begins a start test.
- **early bursts**: in the first 3 s, a 429 asks for a burst (``_shared_start``).
- **stated policy** (``RateLimit-Policy``): a new stated rate is adopted at once, up or
  down (a start test under way ends), and is the ceiling. At the stated rate a 429
  takes its step off only while 429s are at least 20 % of the last 50 answers
  (``_cuts.KNOWN_CUT_SHARE``, as for a configured rate): without that, 10 % of
  sporadic 429s took a stated 200/s down to 14/s in virtual time.

Where each rule's number came from: ``docs/throttling-research.md`` ("Burst tests" and
the rounds before it); the rules read as a guide in ``docs/throttling.md``.

Imports: the standard library and the rules of this package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from ._cuts import KNOWN_CUT_SHARE, KNOWN_MIN_RESPONSES
from ._shared_start import EARLY_EVERY, _StartTests
from ._shared_state import (
    DECREASE,
    FIRST_QUIET,
    FLOOR_AFTER,
    FLOOR_ANSWERS,
    FLOOR_EVERY,
    FLOOR_EXCESS,
    FLOOR_SHARE,
    FLOOR_WINDOW,
    HEAVY_ANSWERS,
    HEAVY_SHARE,
    HEAVY_SPAN,
    INCREASE,
    MIN_RATE,
    PRIOR_RATE,
    QUIET,
    REENTRY_ANSWERS,
    SEGMENT_ANSWERS,
    SEGMENT_SECONDS,
    Phase,
)
from ._verdicts import BUCKET_SECONDS

__all__ = ["SharedRateController"]

#: Seconds from the start in which a 429 asks for an early burst.
EARLY_SECONDS: Final = 3.0
#: A segment whose paced answers are half refused, this many at least, is judged at once.
FAST_ANSWERS: Final = 10
#: No burst is sent below this rate (requests per second).
BURST_MIN_RATE: Final = 20.0


class SharedRateController(_StartTests):
    """The rate of a limiter with no configured rate, fair on a shared quota (module doc).

    The limiter calls `grant` for each request it lets through and exactly one of
    `response` or `failure` for each, reads `rate` (``None``: probe), and asks
    `want_burst` whenever it grants a queued caller (with too few queued behind it, a
    burst is void and tells that the callers, not the rate, hold the pace).

    Args:
        waiting: How many callers wait in the limiter (a gated start test doubles only
            while the rate, not the callers, holds the pace).
    """

    __slots__ = ()

    #: The limiter pauses everyone on a correlated verdict only for controllers that ask.
    pauses_on_correlated: Final = False

    def __init__(self, waiting: Callable[[], int]) -> None:
        super().__init__(None, waiting)

    # --- events the limiter feeds -------------------------------------------------------

    def start(self, now: float, rtt: float) -> None:
        """The probe was answered after ``rtt`` seconds: start in cruise (module doc)."""
        if self.phase is not Phase.PROBE:
            return
        self._rtt = rtt
        self._t0 = self._updated = now
        self._r0 = max(PRIOR_RATE, 1.0 / max(rtt, 1e-3))
        rate = self._r0 if self.ceiling is None else min(self._r0, self.ceiling)
        self._base = rate
        self._set(rate, now)
        self.phase = Phase.CRUISE
        self._enter_run(now)
        self._start_quiet = True

    def state(self, rate: float, now: float) -> None:
        """The server stated a new policy: send at ``rate`` requests per second, and no more.

        Adopted at once, up or down, in any phase; a start test under way ends.
        """
        if rate == self.stated:
            return
        self.stated = self.ceiling = rate
        self.phase = Phase.KNOWN
        self._gated = self._confirming = self._probing = False
        self._bursts.cancel()
        self._set(rate, now)

    def paused(self, until: float) -> None:
        """The limiter pauses sending until ``until``: no regrowth meanwhile."""
        self._paused_until = max(self._paused_until, until)

    def grant(self, now: float) -> None:
        """The limiter let a request through."""
        self._inflight += 1
        self.tally.grant(now)
        if now >= self._rollover:
            self._tick(now)

    def want_burst(self, now: float) -> int:
        """A queued caller is granted: how many more to grant with it (0: none)."""
        if (self.rate or 0.0) < BURST_MIN_RATE:
            return 0
        if self._bursts.wanted and self._bursts.purpose == "early" and not self._early(now):
            self._bursts.cancel()  # asked in the first seconds, no longer their test
            return 0
        extra = self._bursts.take(now, self._bursts.answers + self._inflight - 1)
        if extra:
            self._seen_429 = False
        return extra

    def burst_sent(self, extra: int) -> None:
        """The limiter granted ``extra`` requests with the one that asked for a burst."""
        self._bursts.sent(extra)

    def failure(self, now: float, *, server: bool = True) -> None:
        """A granted request failed: no response or a 5xx (``server``), or given up on."""
        self._inflight = max(0, self._inflight - 1)
        self._burst_answer(now, False, failed=True)
        if server:
            self.tally.failure(now)
        if self._skip > 0:
            self._skip -= 1
            if self._skip == 0:
                self._seg_start = now

    def response(self, now: float, throttled: bool) -> None:
        """A granted request was answered: 429 (``throttled``) or accepted."""
        self._inflight = max(0, self._inflight - 1)
        in_burst = self._burst_answer(now, throttled)
        self.tally.response(now, throttled)
        if self.rate is None or self.phase is Phase.PROBE:
            return
        if self._skip > 0:
            self._skip -= 1
            if self._skip == 0:
                self._seg_start = now
            return
        if self.phase is Phase.STARTUP:
            self._seg_n += 1
            self._seg_t += int(throttled)
            if not in_burst:
                self._seg_pn += 1
                self._seg_pt += int(throttled)
            if (
                self._seg_n >= SEGMENT_ANSWERS
                or (self._seg_n >= 8 and now - self._seg_start >= SEGMENT_SECONDS)
                or (
                    self._flat_t == 0
                    and self._seg_pn >= FAST_ANSWERS
                    and 2 * self._seg_pt >= self._seg_pn
                )
            ):
                self._judge_segment(now)
        else:
            self._run_n += 1
            self._run_t += int(throttled)
            if not in_burst:
                self._regrow(now, throttled)
        if now >= self._rollover:
            self._tick(now)

    def __repr__(self) -> str:
        rate = "unlimited" if self.rate is None else f"{self.rate:.1f}/s"
        return (
            f"<SharedRateController {self.phase.value} rate={rate} w_max={self.w_max:.1f} "
            f"ambient={self.ambient:.3f} cuts={self.cuts} undos={self.undos}>"
        )

    # --- rules --------------------------------------------------------------------------

    def _burst_answer(self, now: float, throttled: bool, *, failed: bool = False) -> bool:
        """Count an answer against a burst; act on a burst's result. True: a burst's answer."""
        in_burst, result = self._bursts.answer(throttled, failed=failed)
        if result is not None:
            self._burst_result(now, result)
        return in_burst

    def _early(self, now: float) -> bool:
        """Early bursts may be asked: the first seconds, nothing learnt, no test ended."""
        return (
            self.phase is Phase.CRUISE
            and self.ambient <= 0.0
            and now - self._t0 <= EARLY_SECONDS
            and self._exit_at == -math.inf
        )

    def _regrow(self, now: float, throttled: bool) -> None:
        """One paced answer in cruise: heavy cut, early burst, Kelly's step (module doc)."""
        assert self.rate is not None
        if throttled:
            _, ok, thr, _ = self.tally.counts(
                now, 0.0, responses=HEAVY_ANSWERS, since=self._seg_start
            )
            if ok + thr >= HEAVY_ANSWERS and thr >= HEAVY_SHARE * (ok + thr):
                accepted = self.rate * (1 - thr / (ok + thr))
                _, recent, _, span = self.tally.counts(now, HEAVY_SPAN)
                self.cuts += 1
                self._set(max(MIN_RATE, accepted, recent / span), now)
                self._enter_run(now)
                return
        if throttled:
            self._seen_429 = True
        if (
            self._seen_429
            and self._early(now)
            and not self._bursts.open
            and not self._bursts.wanted
            and now - self._bursts.last >= EARLY_EVERY * self._early_back
        ):
            self._bursts.ask("early")
        if throttled and self.phase is Phase.KNOWN and not self._known_excess(now):
            return  # sporadic 429s never lower a rate the server stated
        a = self._ambient_bound()
        if throttled:
            new = self.rate - DECREASE
        else:  # never past twice what is sent (a caller slower than the rate)
            new = self.rate + DECREASE * a / (1 - a)
            if a > 0.0:
                new = min(new, max(self.rate, 2 * self._sending(now) + 1))
        if self.ceiling is not None:
            new = min(new, self.ceiling)
        self.rate = max(MIN_RATE, new)

    def _known_excess(self, now: float) -> bool:
        """At a stated rate: 429s are at least `KNOWN_CUT_SHARE` of the last 50 answers."""
        _, ok, thr, _ = self.tally.counts(now, 0.0, responses=KNOWN_MIN_RESPONSES)
        return ok + thr >= KNOWN_MIN_RESPONSES and thr >= KNOWN_CUT_SHARE * (ok + thr)

    def _tick(self, now: float) -> None:
        """Once per tally bucket: round trip, regrowth, re-entry and floor tests."""
        self._rollover = (int(now / BUCKET_SECONDS) + 1) * BUCKET_SECONDS
        _, ok, throttled, span = self.tally.counts(now, 2 * BUCKET_SECONDS)
        if ok + throttled and self._inflight:
            self._rtt += 0.2 * (self._inflight * span / (ok + throttled) - self._rtt)
        if self.rate is None or self.phase in (Phase.PROBE, Phase.STARTUP):
            self._updated = now
            return
        dt = now - self._updated
        self._updated = now
        if now < self._paused_until:
            return
        if self._run_t > self._ambient_bound() * self._run_n + 0.5:
            # an excess over the ambient share: the quiet window restarts
            self._run_n = self._run_t = 0
            self._last_excess = now
            self._start_quiet = False
        quiet_for = now - self._last_excess
        # never past twice what is sent: a caller slower than the rate does not raise it
        new = max(self.rate, min(self.rate + INCREASE * dt, 2 * self._sending(now) + 1))
        if self.ceiling is not None:
            new = min(new, self.ceiling)
        self.rate = new
        if self.phase is not Phase.CRUISE:
            return
        quiet = FIRST_QUIET if self._start_quiet else QUIET * self._qmult
        if quiet_for >= quiet and self._run_n >= REENTRY_ANSWERS:
            self._start_quiet = False
            self._restart(now)
            return
        if (
            now - self._last_floor >= FLOOR_EVERY
            and now - self._cruise_since >= FLOOR_AFTER
            and self.rate <= FLOOR_SHARE * self._r0
        ):
            _, ok, thr, _ = self.tally.counts(now, FLOOR_WINDOW, since=self._cruise_since)
            if ok + thr >= FLOOR_ANSWERS and thr / (ok + thr) >= FLOOR_EXCESS + self.ambient:
                self._last_floor = now
                self._run_n, self._run_t = ok + thr, thr
                self._probing = self._restart(now)
