"""The adaptive sending rate: startup, tentative cuts, verification, undo, CUBIC regrowth.

States: ``probe`` (no rate known: one request at a
time until one is answered), ``startup`` (the rate doubles every `STARTUP_DOUBLING`
seconds from `STARTUP_PER_RTT` requests per round trip), ``cruise`` (CUBIC around the
last verified limit) and ``known`` (at the configured or stated rate).

- *Evidence that throttling tracks the rate.* Only responses to requests granted since
  the last rate change count (the ones in flight at the change are skipped), from the
  first 429 of an episode on (that one excluded, so the share is not biased upwards).
  A cut is considered when the episode's 429 share exceeds the *ambient* share
  (throttling learnt not to be ours) by more than noise (`excess_threshold`:
  `EXCESS_Z` binomial standard deviations plus `EXCESS_SLACK`), over at least
  `MIN_RESPONSES` responses and `MIN_THROTTLES` 429s. At a configured or stated rate
  the share must also reach `KNOWN_CUT_SHARE` (20 %) over `KNOWN_MIN_RESPONSES`:
  sporadic 429s never lower a rate the user or the server gave. An episode whose share
  stays within the noise for `EVAL_SECONDS` is forgotten.
- *The cut* is measured against the rate being *sent* before and during the episode (an
  average over unpaused time, so pauses do not lower it): the limit is estimated as
  ``sent * (1 - share) / (1 - ambient)`` (what got through, with ambient 429s counted as
  accepted) and the rate set to `CUT_GAIN` (90 %) of it, at least 5 % below the old rate.
- *Verification and undo.* A cut is tentative. Among the answers to requests sent
  after it, a share of 429s back within the noise of the ambient share confirms it
  (throttling tracks our rate; CUBIC regrows around the estimated limit; the share left
  after a cut that worked is the tail of our own excess, so it may lower the ambient
  share but never raise it: raising it inflated the next estimate of the limit, whose
  cut then stayed above the limit, and Bird's 50/s at 150 ms drew 10 to 20 % of 429s
  for good), and so does
  a share still at or above `CORRELATED_SHARE`, or risen by more than `VERIFY_Z`
  standard deviations (the limit fell further than the cut: more cuts follow). In
  between, the share that triggered the cut is a biased yardstick (the cut fired
  because it was high), so the verdict waits for `VERIFY_MAX_RESPONSES` answers or
  `VERIFY_MAX_SECONDS`: the cut stays only if the share at least halved
  (`UNDO_RATIO`); otherwise the rate goes back to where it was, and the share it kept
  becomes the ambient share (at most `MAX_AMBIENT`). A cut for a correlated share is
  kept at once: that much throttling is ours to fix whatever the cut achieves.
- *The floor.* A cut caused by a share below `CORRELATED_SHARE` never goes below
  `FLOOR_SHARE` (half) of the best rate accepted in a second of the last
  `FLOOR_MEMORY` whose throttling was not correlated; a verified cut resets that
  memory to what was just verified, so a limit that really fell is followed down, by
  at most half per step.
- *A small excess that persists* (`RateController._leaking`). An episode is judged
  over about half a second: at 50 requests/s, 25 answers, within whose noise 5 or 6 %
  of 429s pass for ever. Since the last rate change the answers add up: a share above
  the ambient one by more than noise and `LEAK_SHARE`, over `LEAK_RESPONSES` or more,
  is a tentative cut to `LEAK_CUT` of what was accepted meanwhile, verified like any
  other. Every client that shares a quota sees the same share and takes the same
  multiplicative step.
- *Regrowth.* CUBIC, scale-free, around ``w_max``, the estimated limit (raised by any
  clean second that accepted more: BBR's max filter, the limit is at least what it
  took): ``rate(t) = w_max * (1 + CUBIC_C * ((t - K) / T)**3)``, ``K`` the time back to
  ``w_max``, and the time unit ``T`` = max(`CUBIC_MIN_UNIT`, `CUBIC_RESPONSES` / w_max,
  4 round trips), at most `CUBIC_MAX_UNIT`: long enough that an overshoot is detected
  (three 429s) before it reaches 5 %. Once the server has accepted `REDISCOVER` times
  ``w_max`` cleanly, the limit has risen: startup (doubling) takes over, and its first
  excess of 429s sends the rate back below the most the server accepted since that
  excess began (an old limit that looked raised because its bucket had refilled costs
  a few 429s, not a cut; what was accepted before the excess includes that bucket's
  burst). So does CUBIC's own probing above ``w_max``: an excess while probing above
  the known limit is no news to confirm, and waiting for a fresh sample let a bucket
  that had hidden the overshoot answer a volley of 429s. The
  rate never grows beyond `APP_LIMITED_GROWTH` times what is actually being sent, and
  never beyond the configured or stated rate.

A configured rate (``rate_limit=R``) starts ``known`` at R; a verified cut moves it to
``cruise`` below R, and it returns to ``known`` at R when CUBIC gets there (about a
second after the throttling stops, for a limit that had halved). A stated rate
(``RateLimit-Policy``) is adopted the same way, capped by the configured one.

Imports: the standard library and the tally and verdicts of this package.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import Final

from ._verdicts import (
    BUCKET_SECONDS,
    CORRELATED_SHARE,
    Tally,
    excess_threshold,
)

__all__ = ["MIN_RATE", "Phase", "RateController"]

# --- cutting -----------------------------------------------------------------------------
#: Seconds, and responses at least, over which a cut's share is measured (up to 2 s).
EVAL_SECONDS: Final = 0.5
EVAL_RESPONSES: Final = 20
#: Seconds an episode of 429s is measured over at most before a new one starts.
EPISODE_SECONDS: Final = 2.0
#: Responses of the fresh sample that must confirm an excess before a cut.
CONFIRM_RESPONSES: Final = 20
#: Fewest 429s, and fewest responses, that can justify a cut.
MIN_THROTTLES: Final = 3
MIN_RESPONSES: Final = 10
#: At a configured or stated rate, the least share of 429s that may cut it, measured
#: over this many responses at least (10 % sporadic 429s show 20 % in one episode of
#: 50 with a chance of 0.2 %).
KNOWN_CUT_SHARE: Final = 0.2
KNOWN_MIN_RESPONSES: Final = 50
#: The rate after a cut, as a share of the estimated limit; the least cut (5 %); and
#: the deepest, as a share of the rate sent (an estimate from a share near 100 % is
#: noise: halving steps, each measured again, get there within a few round trips).
CUT_GAIN: Final = 0.9
MAX_CUT_RATIO: Final = 0.95
DEEPEST_CUT: Final = 0.5
#: Requests per second no adaptive rate goes below.
MIN_RATE: Final = 0.5

# --- verification and floor --------------------------------------------------------------
#: Responses to post-cut requests that verify a cut (fewer, down to `MIN_RESPONSES`,
#: after `VERIFY_MAX_SECONDS` at a low rate), and the least seconds after it...
VERIFY_RESPONSES: Final = 20
VERIFY_SECONDS: Final = 0.1
#: Standard deviations by which a share that rose after a cut confirms it.
VERIFY_Z: Final = 2.0
#: ...else, after this many responses or seconds, a share that did not fall below
#: `UNDO_RATIO` of the share before the cut undoes it.
VERIFY_MAX_RESPONSES: Final = 200
VERIFY_MAX_SECONDS: Final = 2.0
UNDO_RATIO: Final = 0.5
#: The ambient (not-ours) share is never believed above this.
MAX_AMBIENT: Final = 0.3
#: A sporadic episode's cut never goes below this share of the best clean rate...
FLOOR_SHARE: Final = 0.5
#: ...of the clean one-second intervals of the last this many seconds.
FLOOR_MEMORY: Final = 10.0
CLEAN_INTERVAL: Final = 1.0

# --- growth ------------------------------------------------------------------------------
#: Startup: requests per round trip of the first answer, and seconds per doubling.
STARTUP_PER_RTT: Final = 4.0
STARTUP_DOUBLING: Final = 0.2
#: Startup ends (tentatively) after `PLATEAU_ROUNDS` rounds of `STARTUP_ROUND` seconds
#: with 429s above the ambient share, whose accepted answers grew less than
#: `PLATEAU_GROWTH` times the best round (BBR: 25 % over three rounds).
STARTUP_ROUND: Final = 0.2
PLATEAU_ROUNDS: Final = 2
PLATEAU_GROWTH: Final = 1.25
#: The rate never grows beyond this multiple of the rate actually being sent.
APP_LIMITED_GROWTH: Final = 2.0
#: CUBIC's constant (per time unit cubed, relative to w_max), and the time unit's floors.
CUBIC_C: Final = 0.4
CUBIC_MIN_UNIT: Final = 1.5
CUBIC_MAX_UNIT: Final = 3.0
CUBIC_RESPONSES: Final = 150.0
#: A share of 429s above the ambient one by more than noise and `LEAK_SHARE`, over
#: `LEAK_RESPONSES` answers or more since the last rate change, eases the rate off to
#: `LEAK_CUT` of what was accepted meanwhile (`RateController._leaking`).
LEAK_RESPONSES: Final = 100
LEAK_SHARE: Final = 0.01
LEAK_CUT: Final = 0.95
#: Once the server has accepted this multiple of the last verified limit for half a
#: second without throttling, the limit has risen: startup (doubling) again.
REDISCOVER: Final = 1.25
#: Seconds of grants a cut measures the rate being sent over (a startup doubling every
#: 0.2 s must not make it look lower than it is).
SENT_SECONDS: Final = 0.1
#: Weight of the newest bucket in the smoothed sending rate and round-trip time.
SENT_SMOOTHING: Final = 0.2


def _wilson(hits: int, total: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of the share ``hits / total`` at ``z`` deviations."""
    z2 = z * z
    p = hits / total
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1.0 - p) / total + z2 / (4 * total * total))
    scale = 1.0 + z2 / total
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def _ok_upper(ok: int, total: int) -> float:
    """The share of answers that got through is at most this (95 %, one-sided)."""
    return _wilson(ok, total, 1.645)[1]


class Phase(enum.Enum):
    """Where a `RateController` is (see the module docstring)."""

    FIXED = "fixed"
    PROBE = "probe"
    STARTUP = "startup"
    CRUISE = "cruise"
    KNOWN = "known"


class _Pending:
    """A tentative cut and what to restore if it is undone."""

    __slots__ = ("epoch", "k", "limit", "phase", "rate", "responses", "share", "w_max")

    def __init__(
        self,
        rate: float | None,
        phase: Phase,
        w_max: float,
        epoch: float,
        k: float,
        share: float,
        responses: int,
        limit: float,
    ) -> None:
        self.rate = rate
        self.phase = phase
        self.w_max = w_max
        self.epoch = epoch
        self.k = k
        self.share = share  # of 429s before the cut, over `responses`
        self.responses = responses
        self.limit = limit


class RateController:
    """The adaptive sending rate: startup, cuts on verified throttling, CUBIC regrowth.

    The limiter calls `grant` for each request it lets through and exactly one of
    `response` or `failure` for each of them, and reads `rate` (``None``: no rate yet,
    probe). See the module docstring for every rule.

    Args:
        configured: The user's rate, requests per second (a ceiling that only
            correlated throttling may lower), or ``None`` to discover one.
        adaptive: ``False`` keeps ``configured`` as a fixed pace (``None``: unlimited):
            nothing the server answers changes it; the tally still feeds `classify`.
    """

    __slots__ = (
        "_best_round",
        "_clean",
        "_confirming",
        "_ep_ok",
        "_ep_start",
        "_ep_throttled",
        "_epoch",
        "_inflight",
        "_k",
        "_next_clean",
        "_paused_until",
        "_pending",
        "_plateaus",
        "_rollover",
        "_round_end",
        "_rtt",
        "_seg_ok",
        "_seg_start",
        "_seg_throttled",
        "_sent",
        "_skip",
        "_updated",
        "ambient",
        "configured",
        "cuts",
        "phase",
        "rate",
        "stated",
        "tally",
        "undos",
        "w_max",
    )

    def __init__(self, configured: float | None, *, adaptive: bool = True) -> None:
        self.configured = configured
        self.stated: float | None = None
        self.rate = configured
        if not adaptive:
            self.phase = Phase.FIXED
        else:
            self.phase = Phase.KNOWN if configured is not None else Phase.PROBE
        self.tally = Tally()
        self.ambient = 0.0
        self.w_max = configured or 0.0
        self.cuts = 0
        self.undos = 0
        self._epoch = 0.0
        self._k = 0.0
        self._pending: _Pending | None = None
        self._inflight = 0
        self._skip = 0  # responses still due to requests granted before the last change
        self._seg_start = -math.inf  # when responses started counting for verification
        self._seg_ok = 0
        self._seg_throttled = 0
        # The episode: responses after the first 429 of the segment (that one excluded,
        # so that a share measured from it is not biased upwards).
        self._ep_start: float | None = None
        self._ep_ok = 0
        self._ep_throttled = 0
        self._confirming = False  # a fresh sample must confirm the excess before a cut
        self._sent = 0.0  # smoothed sending rate over unpaused buckets
        self._rollover = -math.inf  # end of the current bucket
        self._updated = -math.inf
        self._paused_until = -math.inf
        self._clean: deque[tuple[float, float]] = deque()  # (time, accepted/s), max-queue
        self._round_end = -math.inf  # startup: the end of the current round
        self._best_round = 0.0  # startup: the most accepted per second in one round
        self._plateaus = 0  # startup: rounds in a row that accepted no more
        self._next_clean = -math.inf
        self._rtt = 0.0

    @property
    def ceiling(self) -> float | None:
        """The most the rate may be: the configured and stated rates, the lower one."""
        if self.stated is None:
            return self.configured
        if self.configured is None:
            return self.stated
        return min(self.stated, self.configured)

    @property
    def floor(self) -> float:
        """The lowest rate a cut for a share below `CORRELATED_SHARE` may set."""
        best = self._clean[0][1] if self._clean else 0.0
        return max(MIN_RATE, FLOOR_SHARE * best)

    @property
    def verifying(self) -> bool:
        """Whether a tentative cut awaits its verification."""
        return self._pending is not None

    # --- events ---

    def start(self, now: float, rtt: float) -> None:
        """Leave ``probe``: the first answer came after ``rtt`` seconds and stated no rate."""
        if self.phase is not Phase.PROBE:
            return
        self._rtt = rtt
        self.phase = Phase.STARTUP
        self.rate = max(MIN_RATE, STARTUP_PER_RTT / max(rtt, 1e-3))
        self._updated = now

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

    # --- rules ---

    def _consider_cut(self, now: float) -> None:
        """Cut, tentatively, if this episode's share of 429s is evidence (module doc)."""
        if self.rate is None or self.phase in (Phase.PROBE, Phase.FIXED):
            return
        throttled, total = self._ep_throttled, self._ep_ok + self._ep_throttled
        if throttled + 1 < MIN_THROTTLES or total < MIN_RESPONSES:
            return
        share = throttled / total
        if share <= excess_threshold(self.ambient, total):
            return
        correlated = share >= CORRELATED_SHARE
        probing = self.phase is Phase.STARTUP or (
            self.phase is Phase.CRUISE and self.rate > self.w_max
        )
        if probing and self.w_max > 0.0:
            # Probing up past a known limit (CUBIC's probing above ``w_max``, or
            # `_limit_rose`): it has not risen that far. No confirmation, no verdict:
            # back below the most it accepted now or before, no deeper: not a cut. "Now"
            # is since the episode's first 429: before it, a server bucket that refilled
            # while the rate was below the limit lets a burst through, and the rate sent
            # back to what it accepted then would overshoot the limit by that burst.
            since = max(self._seg_start, self._ep_start if self._ep_start is not None else now)
            _, ok, _, span = self.tally.counts(now, EVAL_SECONDS, since=since)
            self.w_max = max(self.w_max, ok / span)
            self._set(min(self.rate, self.w_max * CUT_GAIN), now)
            self._begin_cruise(now)
            return
        if self.phase is Phase.STARTUP and not correlated:
            return  # startup ends on a plateau of accepted answers (`_startup_round`)
        weak = total < KNOWN_MIN_RESPONSES or share < KNOWN_CUT_SHARE
        if self.phase is Phase.KNOWN and not correlated and weak:
            return  # at a given rate: only 20 % of 429s, well measured (module doc)
        sent = self._sending(now)
        limit = max(MIN_RATE, sent * (1.0 - share) / (1.0 - self.ambient))
        # No deeper than half, nor than the evidence allows: the share of answers that
        # got through is, with 95 % confidence, at most `_ok_upper` of what was sent.
        target = max(limit * CUT_GAIN, sent * min(DEEPEST_CUT, _ok_upper(total - throttled, total)))
        target = min(target, min(self.rate, sent) * MAX_CUT_RATIO)
        if not correlated:
            target = max(target, self.floor)
        if target >= self.rate:
            return
        if not correlated and not self._confirming:
            # A share high by chance triggers as often as a real excess: confirm it on
            # a fresh sample, which then also serves as the unbiased yardstick.
            self._confirming = True
            self._ep_start = now
            self._ep_ok = self._ep_throttled = 0
            return
        if not correlated and total < CONFIRM_RESPONSES:
            return
        self._confirming = False
        if correlated:  # never undone (module doc): no verification to wait for
            self.cuts += 1
            self._set(target, now)
            self.w_max = target / CUT_GAIN
            self._begin_cruise(now)
            self._clean.clear()  # what was clean then (a burst, a higher limit) is not now
            return
        self._tentative_cut(now, target, limit, throttled, total)

    def _tentative_cut(
        self, now: float, target: float, limit: float, throttled: int, total: int
    ) -> None:
        """Cut to ``target`` until `_verify` keeps or undoes it.

        Args:
            now: The time.
            target: The rate to cut to.
            limit: The estimated limit, CUBIC's w_max if the cut is kept.
            throttled: 429s of the evidence the cut is judged against...
            total: ...out of this many responses.
        """
        self.cuts += 1
        self._pending = _Pending(
            self.rate,
            self.phase,
            self.w_max,
            self._epoch,
            self._k,
            throttled / total,
            total,
            limit,
        )
        self._set(target, now)

    def _sending(self, now: float) -> float:
        """The rate being sent just now: grants over the last `SENT_SECONDS` (unpaused)."""
        grants, _, _, span = self.tally.counts(now, SENT_SECONDS)
        if self._paused_until >= now - span or grants == 0:
            return self._sent if self._sent > 0.0 else (self.rate or MIN_RATE)
        return grants / span

    def _end_episode(self, now: float) -> None:
        """Forget an episode within the noise (sporadic 429s), or older than its limit.

        An episode is a sliding sample, not a record: past `EPISODE_SECONDS` the next
        429 starts a new one, so a change (a limit that drops after a long sporadic
        spell) shows at once instead of being averaged with the past.
        """
        if self._ep_start is None or now - self._ep_start < EVAL_SECONDS:
            return
        total = self._ep_ok + self._ep_throttled
        within = total >= EVAL_RESPONSES and self._ep_throttled / total <= excess_threshold(
            self.ambient, total
        )
        if within or now - self._ep_start >= EPISODE_SECONDS:
            self._ep_start = None
            self._ep_ok = self._ep_throttled = 0
            self._confirming = False

    def _verify(self, now: float) -> None:
        """Keep a tentative cut whose share fell; undo one whose share did not."""
        pending = self._pending
        assert pending is not None
        total = self._seg_ok + self._seg_throttled
        elapsed = now - self._seg_start
        if self._skip > 0 or elapsed < VERIFY_SECONDS or total < MIN_RESPONSES:
            return
        if total < VERIFY_RESPONSES and elapsed < VERIFY_MAX_SECONDS:
            return
        share = self._seg_throttled / total
        # Ours when the cut brought the 429s back within the noise, or when they are
        # still most of the answers. In between, the triggering share is a biased
        # yardstick (the cut fired because it was high): wait for a large sample, then
        # keep the cut only if the share at least halved.
        before, n_before = pending.share, pending.responses
        pooled = max((self._seg_throttled + before * n_before) / (total + n_before), 0.01)
        noise = VERIFY_Z * math.sqrt(pooled * (1.0 - pooled) * (1.0 / total + 1.0 / n_before))
        fell = before - share > noise or share <= excess_threshold(self.ambient, total) < before
        rose = share >= CORRELATED_SHARE or share - before > noise
        if not (fell or rose):
            if total < VERIFY_MAX_RESPONSES and elapsed < VERIFY_MAX_SECONDS:
                return
            fell = share < UNDO_RATIO * pending.share
        self._pending = None
        if fell or rose:  # ours: cutting helped, or the throttling got worse still
            if fell:  # a cut that worked can only lower the ambient share (module doc)
                self.ambient = min(self.ambient, share)
            assert self.rate is not None
            self.w_max = max(pending.limit, self.rate / CUT_GAIN)
            self._begin_cruise(now)
            accepted = self._seg_ok / max(now - self._seg_start, BUCKET_SECONDS)
            self._clean.clear()
            self._clean.append((now, accepted))
            self._new_segment(now)
            return
        self.undos += 1
        self.ambient = min(share, MAX_AMBIENT)
        self.phase = pending.phase
        self.w_max = pending.w_max
        self._epoch = pending.epoch
        self._k = pending.k
        assert pending.rate is not None
        self._set(pending.rate, now)

    def _begin_cruise(self, now: float) -> None:
        """Start a CUBIC epoch around ``w_max`` from the current rate."""
        assert self.rate is not None
        self.phase = Phase.CRUISE
        self._epoch = now
        beta = min(self.rate / self.w_max, 1.0)
        self._k = self._unit() * ((1.0 - beta) / CUBIC_C) ** (1.0 / 3.0)

    def _unit(self) -> float:
        """CUBIC's time unit, seconds (module doc)."""
        unit = max(CUBIC_MIN_UNIT, CUBIC_RESPONSES / max(self.w_max, MIN_RATE), 4.0 * self._rtt)
        return min(unit, CUBIC_MAX_UNIT)

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

    def _leaking(self, now: float) -> bool:
        """Ease off a rate that keeps drawing a small excess of 429s; tell if it did.

        An episode is judged over about half a second: at 50 requests/s that is 25
        answers, and 6 % of 429s stays within its noise for ever. Since the last rate
        change, though, the answers add up: an excess over the ambient share that
        persists over `LEAK_RESPONSES` or more is the limit, just below the rate.
        Every client that sees it eases off, tentatively, to `LEAK_CUT` of what was
        accepted meanwhile (the same multiplicative step for all the clients that
        share a quota); the cut is verified and kept or undone like any other.
        """
        total = self._seg_ok + self._seg_throttled
        if total < LEAK_RESPONSES or self._skip > 0:
            return False
        share = self._seg_throttled / total
        if share <= max(excess_threshold(self.ambient, total), LEAK_SHARE + self.ambient):
            return False
        assert self.rate is not None
        accepted = self._seg_ok / max(now - self._seg_start, BUCKET_SECONDS)
        target = max(min(self.rate, accepted) * LEAK_CUT, self.floor, MIN_RATE)
        if target >= self.rate:
            return False
        # Tentative like any cut: sporadic 429s, whose share the cut does not lower,
        # undo it and become the ambient share (module doc).
        self._tentative_cut(now, target, max(accepted, MIN_RATE), self._seg_throttled, total)
        return True

    def _startup_round(self, now: float) -> None:
        """End startup when accepted answers stop growing while 429s show (BBR's exit).

        The end is a tentative cut like any other: to `CUT_GAIN` of the best round's
        accepted rate, kept if the share of 429s falls (a limit: startup is over),
        undone if it does not (sporadic 429s, whose share does not depend on the rate
        and grows no plateau of its own; startup goes on, their share now ambient).
        """
        rate = self.rate
        assert rate is not None
        self._round_end = now + STARTUP_ROUND
        _, ok, throttled, span = self.tally.counts(now, STARTUP_ROUND, since=self._seg_start)
        total = ok + throttled
        if total < MIN_RESPONSES:
            return
        accepted = ok / span
        share = throttled / total
        if share > excess_threshold(self.ambient, total) and accepted < (
            PLATEAU_GROWTH * self._best_round
        ):
            self._plateaus += 1
        else:
            self._plateaus = 0
        self._best_round = max(self._best_round, accepted)
        if self._plateaus >= PLATEAU_ROUNDS:
            self._plateaus = 0
            target = min(rate, self._sending(now)) * MAX_CUT_RATIO
            self._tentative_cut(
                now, min(self._best_round * CUT_GAIN, target), self._best_round, throttled, total
            )

    def _grow(self, now: float) -> None:
        rate = self.rate
        assert rate is not None
        ceiling = self.ceiling
        cap = max(rate, APP_LIMITED_GROWTH * self._sent)
        if ceiling is not None:
            cap = min(cap, ceiling)
        if self.phase is Phase.STARTUP:
            target = rate * 2.0 ** ((now - self._updated) / STARTUP_DOUBLING)
        elif self.phase is Phase.CRUISE:
            t = (now - self._epoch - self._k) / self._unit()
            target = self.w_max * (1.0 + CUBIC_C * t * t * t)
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

    def _set(self, rate: float, now: float) -> None:
        """Change the rate; responses to requests already in flight stop counting."""
        self.rate = rate
        self._updated = now
        self._new_segment(now)

    def _new_segment(self, now: float) -> None:
        self._skip = self._inflight
        self._seg_start = now if self._skip == 0 else math.inf
        self._seg_ok = self._seg_throttled = 0
        self._ep_start = None
        self._ep_ok = self._ep_throttled = 0
        self._confirming = False

    def __repr__(self) -> str:
        rate = "unlimited" if self.rate is None else f"{self.rate:.1f}/s"
        return (
            f"<RateController {self.phase.value} rate={rate} w_max={self.w_max:.1f} "
            f"ambient={self.ambient:.3f} cuts={self.cuts} undos={self.undos}>"
        )
