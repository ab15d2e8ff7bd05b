"""How the adaptive rate grows: startup's doubling, CUBIC around the limit, the clean memory.

- *Startup* doubles the rate every `STARTUP_DOUBLING` seconds (``_startup`` says how it
  begins and ends).
- *Cruise* is CUBIC, scale-free, around ``w_max``, the estimated limit (raised by any
  clean second that accepted more: BBR's max filter, the limit is at least what it
  took): ``rate(t) = w_max * (1 + CUBIC_C * ((t - K) / T)**3)``, ``K`` the time back to
  ``w_max``, and the time unit ``T`` = max(`CUBIC_MIN_UNIT`, `CUBIC_RESPONSES` / w_max,
  4 round trips), at most `CUBIC_MAX_UNIT`: long enough that an overshoot is detected
  (three 429s) before it reaches 5 %. At Bird's 50/s the unit is 4 s (it was 3 s, at
  150 responses and 3 s at most): every probe past a bucket as deep as a second of the
  rate ends in a volley of 429s once the bucket is empty, so fewer probes, fewer
  volleys. With startup's exit at the accepted rate (``_startup``), in virtual time,
  the median share of 429s after start-up fell from 2.2-2.6 % to 1.7-2.1 % across
  5-150 ms (each change alone left one latency above 3 %). From 133/s up the unit
  is as before (1.5 s), and a limit raised from 100/s to 300/s is found as fast.
  Once the server has accepted `REDISCOVER` times ``w_max`` cleanly, the limit has
  risen: startup (doubling) takes over.
- *Known* climbs straight back to the configured or stated rate.

The rate never grows beyond `APP_LIMITED_GROWTH` times what is actually being sent, and
never beyond the configured or stated rate.

*The clean memory* (`_Regrowth._remember_clean`, once a second): the best accepted rate
of the last `FLOOR_MEMORY` seconds whose throttling was not correlated, which the floor
(`_State.floor`) is half of; the limit's max filter; and the ambient share fading
towards a clean second's own.

Imports: the standard library and the state and verdicts of this package.
"""

from __future__ import annotations

import math
from typing import Final

from ._state import MIN_RATE, MIN_RESPONSES, Phase, _State
from ._verdicts import CORRELATED_SHARE, excess_threshold

__all__ = ["cubic_k", "cubic_rate", "cubic_unit", "doubled"]

#: Startup: seconds per doubling of the rate.
STARTUP_DOUBLING: Final = 0.2
#: The rate never grows beyond this multiple of the rate actually being sent.
APP_LIMITED_GROWTH: Final = 2.0
#: CUBIC's constant (per time unit cubed, relative to w_max), and the time unit's floors.
CUBIC_C: Final = 0.4
CUBIC_MIN_UNIT: Final = 1.5
CUBIC_MAX_UNIT: Final = 4.0
CUBIC_RESPONSES: Final = 200.0
#: Once the server has accepted this multiple of the last verified limit for half a
#: second without throttling, the limit has risen: startup (doubling) again.
REDISCOVER: Final = 1.25
#: The floor remembers the clean one-second intervals of the last this many seconds.
FLOOR_MEMORY: Final = 10.0
CLEAN_INTERVAL: Final = 1.0


def doubled(rate: float, seconds: float) -> float:
    """Startup's rate ``seconds`` after it was ``rate``: doubled every `STARTUP_DOUBLING`."""
    factor: float = 2.0 ** (seconds / STARTUP_DOUBLING)
    return rate * factor


def cubic_unit(w_max: float, rtt: float) -> float:
    """CUBIC's time unit, seconds (module doc)."""
    unit = max(CUBIC_MIN_UNIT, CUBIC_RESPONSES / max(w_max, MIN_RATE), 4.0 * rtt)
    return min(unit, CUBIC_MAX_UNIT)


def cubic_k(unit: float, rate: float, w_max: float) -> float:
    """CUBIC's ``K``: seconds from ``rate`` back up to ``w_max``."""
    beta = min(rate / w_max, 1.0)
    root: float = ((1.0 - beta) / CUBIC_C) ** (1.0 / 3.0)
    return unit * root


def cubic_rate(w_max: float, t: float) -> float:
    """CUBIC's rate at ``t`` time units from ``K`` (negative before it)."""
    return w_max * (1.0 + CUBIC_C * t * t * t)


class _Regrowth(_State):
    """The growth rules on the shared state (module doc)."""

    __slots__ = ()

    def _begin_cruise(self, now: float) -> None:
        """Start a CUBIC epoch around ``w_max`` from the current rate."""
        assert self.rate is not None
        self.phase = Phase.CRUISE
        self._epoch = now
        self._k = cubic_k(self._unit(), self.rate, self.w_max)

    def _unit(self) -> float:
        """CUBIC's time unit for the current limit and round trip, seconds."""
        return cubic_unit(self.w_max, self._rtt)

    def _grow(self, now: float) -> None:
        rate = self.rate
        assert rate is not None
        ceiling = self.ceiling
        cap = max(rate, APP_LIMITED_GROWTH * self._sent)
        if ceiling is not None:
            cap = min(cap, ceiling)
        if self.phase is Phase.STARTUP:
            target = doubled(rate, now - self._updated)
        elif self.phase is Phase.CRUISE:
            target = cubic_rate(self.w_max, (now - self._epoch - self._k) / self._unit())
            if target > REDISCOVER * self.w_max and self._limit_rose(now):
                self.phase = Phase.STARTUP
                self._round_end = -math.inf  # a fresh startup: rounds counted anew
                self._best_round = 0.0
                self._plateaus = 0
        else:  # known: back up to the ceiling
            target = ceiling if ceiling is not None else rate
        new = min(target, cap)
        if ceiling is not None and new >= ceiling:  # back at the rate given: known
            self.phase = Phase.KNOWN
            new = ceiling
        if new != rate:
            self.rate = new
        self._updated = now

    def _limit_rose(self, now: float) -> bool:
        """Tell whether the server has accepted `REDISCOVER` times the last limit, cleanly.

        Accepted answers, not the rate sent: above the limit the share of 429s takes
        a while to show at a low rate, the accepted rate cannot lie.
        """
        _, ok, throttled, span = self.tally.counts(now, CLEAN_INTERVAL, since=self._seg_start)
        total = ok + throttled
        return (
            span >= CLEAN_INTERVAL / 2
            and ok / span >= REDISCOVER * self.w_max
            and throttled / max(total, 1) <= excess_threshold(self.ambient, total)
        )

    def _remember_clean(self, now: float) -> None:
        """Once a second: the floor's memory, the limit's max filter, the ambient share.

        The floor remembers the best accepted rate of the last seconds whose throttling
        was not correlated (sporadic 429s included: a floor that needs clean seconds
        would vanish exactly when sporadic 429s are many). A clean second raises
        ``w_max`` to what it accepted, and lowers the ambient share towards its own.
        """
        self._next_clean = now + CLEAN_INTERVAL
        clean = self._clean
        while clean and clean[0][0] < now - FLOOR_MEMORY:
            clean.popleft()
        _, ok, throttled, span = self.tally.counts(now, CLEAN_INTERVAL)
        total = ok + throttled
        if total < MIN_RESPONSES or self._paused_until >= now - span:
            return
        share = throttled / total
        accepted = ok / span
        if share < CORRELATED_SHARE:
            while clean and clean[-1][1] <= accepted:
                clean.pop()
            clean.append((now, accepted))
        if share <= excess_threshold(self.ambient, total):
            if self.phase is Phase.CRUISE and accepted > self.w_max:
                self.w_max = accepted  # the limit is at least what it took cleanly
            if total >= 5 * MIN_RESPONSES and share < self.ambient:  # ambient fades
                self.ambient = (self.ambient + share) / 2.0
