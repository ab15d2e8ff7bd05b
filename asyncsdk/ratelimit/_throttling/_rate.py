"""The adaptive sending rate, `RateController`: the events it is fed, and its phases composed.

States: ``probe`` (no rate known: one request at a time until one is answered),
``startup`` (the rate doubles from a few requests per round trip), ``cruise`` (CUBIC
around the last verified limit), ``known`` (at the configured or stated rate) and
``fixed`` (not adaptive). Each phase's rules are a module of this package, stacked so
that each uses only the ones below it:

- ``_state``: what every phase reads: the segment and episode counts, the sending rate,
  the clean memory and the floor, and how a rate changes;
- ``_regrowth``: how the rate grows: startup's doubling, CUBIC, back to a known rate;
- ``_cuts``: when a rate is cut and how deep, and how a tentative cut is verified or
  undone (the floor, the persistent small excess, probing past a known limit);
- ``_startup``: from the first answer to the end of startup;
- here: `RateController`, fed each grant, response and failure, which ticks once per
  tally bucket (measure, verify, regrow, remember clean seconds).

Outages are not a phase of the rate: 5xx answers and failures move no rate, and the
pause an outage calls for is the limiter's (`outage` in ``_verdicts``); the controller
only hears of a pause (`RateController.paused`) so that it does not mistake it for a
lower sending rate.

`TokenBucketLimiter` uses this controller for a configured rate and for a fixed pace;
with no rate to start from it uses `SharedRateController` (``_shared_rate``) instead, so
the ``probe`` and ``startup``-from-nothing paths below serve a controller built here with
no rate (as the rules' tests build it), not the default client.

A configured rate (``rate_limit=R``) starts ``known`` at R; a verified cut moves it to
``cruise`` below R, and it returns to ``known`` at R when CUBIC gets there (about a
second after the throttling stops, for a limit that had halved). A stated rate
(``RateLimit-Policy``) is adopted the same way, capped by the configured one.

Imports: the standard library and the phases, state and verdicts of this package.
"""

from __future__ import annotations

from typing import Final

from ._cuts import KNOWN_CUT_SHARE
from ._startup import _Startup
from ._state import FLOOR_SHARE, MIN_RATE, Phase
from ._verdicts import BUCKET_SECONDS

# FLOOR_SHARE and KNOWN_CUT_SHARE: the thresholds the rules' tests name from here.
__all__ = ["FLOOR_SHARE", "KNOWN_CUT_SHARE", "MIN_RATE", "Phase", "RateController"]

#: Weight of the newest bucket in the smoothed sending rate and round-trip time.
SENT_SMOOTHING: Final = 0.2


class RateController(_Startup):
    """The adaptive sending rate: startup, cuts on verified throttling, CUBIC regrowth.

    The limiter calls `grant` for each request it lets through and exactly one of
    `response` or `failure` for each of them, and reads `rate` (``None``: no rate yet,
    probe). See the module docstrings of this package for every rule.

    Args:
        configured: The user's rate, requests per second (a ceiling that only
            correlated throttling may lower), or ``None`` to discover one.
        adaptive: ``False`` keeps ``configured`` as a fixed pace (``None``: unlimited):
            nothing the server answers changes it; the tally still feeds `classify`.
    """

    __slots__ = ()

    #: A correlated verdict pauses every request of the limiter (``_verdicts``).
    pauses_on_correlated: Final = True

    # --- events ---

    def state(self, rate: float, now: float) -> None:
        """Adopt a rate the server stated (``RateLimit-Policy``), within the configured one."""
        if rate == self.stated or self.phase is Phase.FIXED:
            return
        self.stated = rate
        ceiling = self.ceiling
        assert ceiling is not None
        if self.phase in (Phase.PROBE, Phase.STARTUP, Phase.KNOWN) or self._pending:
            self._pending = None
            self.phase = Phase.KNOWN
            self._set(ceiling, now)
        elif self.rate is not None and self.rate > ceiling:
            self._set(ceiling, now)

    def paused(self, until: float) -> None:
        """Tell that nothing is sent until ``until`` (a pause shared by every request)."""
        self._paused_until = max(self._paused_until, until)

    def grant(self, now: float) -> None:
        """Count one request let through at ``now``."""
        self._inflight += 1
        self.tally.grant(now)
        if now >= self._rollover:
            self._tick(now)

    def want_burst(self, now: float) -> int:
        """No burst tests under these rules: always 0 (see `SharedRateController`)."""
        return 0

    def burst_sent(self, extra: int) -> None:
        """Never called: `want_burst` asks for none."""

    def failure(self, now: float, *, server: bool = True) -> None:
        """Count one request that failed: no response (reset, timeout), or a 5xx.

        With ``server`` false (this client gave up on it: cancelled, too large) it only
        leaves the requests in flight; it tells nothing about the server.
        """
        self._inflight = max(0, self._inflight - 1)
        if server:
            self.tally.failure(now)
        if self._skip > 0:
            self._skip -= 1
            if self._skip == 0:
                self._seg_start = now

    def response(self, now: float, throttled: bool) -> None:
        """Count one response at ``now``; adjust the rate if the rules say so."""
        self._inflight = max(0, self._inflight - 1)
        self.tally.response(now, throttled)
        if self._skip > 0:  # a request granted before the last change
            self._skip -= 1
            if self._skip == 0:
                self._seg_start = now
        else:
            if throttled:
                self._seg_throttled += 1
            else:
                self._seg_ok += 1
            if self._ep_start is not None:
                if throttled:
                    self._ep_throttled += 1
                else:
                    self._ep_ok += 1
            elif throttled:
                self._ep_start = now
            if throttled and self._pending is None:
                self._consider_cut(now)
        if now >= self._rollover:
            self._tick(now)

    def _tick(self, now: float) -> None:
        """Once per bucket: measure, verify, regrow, remember clean intervals."""
        self._rollover = (int(now / BUCKET_SECONDS) + 1) * BUCKET_SECONDS
        grants, ok, throttled, span = self.tally.counts(now, 2 * BUCKET_SECONDS)
        if self._paused_until < now - span:  # a pause would make the rate look lower
            self._sent += SENT_SMOOTHING * (grants / span - self._sent)
        if ok + throttled and self._inflight:  # Little's law: in flight / throughput
            self._rtt += SENT_SMOOTHING * (self._inflight * span / (ok + throttled) - self._rtt)
        if self._pending is not None:
            self._verify(now)
        elif self.rate is not None and self.phase is not Phase.FIXED:
            self._end_episode(now)
            if self.phase is Phase.STARTUP and now >= self._round_end:
                self._startup_round(now)
            if self.phase is Phase.CRUISE and self._leaking(now):
                return
            self._grow(now)
        if now >= self._next_clean:
            self._remember_clean(now)

    def __repr__(self) -> str:
        rate = "unlimited" if self.rate is None else f"{self.rate:.1f}/s"
        return (
            f"<RateController {self.phase.value} rate={rate} w_max={self.w_max:.1f} "
            f"ambient={self.ambient:.3f} cuts={self.cuts} undos={self.undos}>"
        )
