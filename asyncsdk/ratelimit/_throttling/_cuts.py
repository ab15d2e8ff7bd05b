"""When the adaptive rate is cut, how deep, and how a tentative cut is verified or undone.

- *Evidence that throttling tracks the rate.* Only the segment's answers count (see
  ``_state``), from the first 429 of an episode on (that one excluded). A cut is
  considered when the episode's 429 share exceeds the *ambient* share (throttling
  learnt not to be ours) by more than noise (`excess_threshold`: `EXCESS_Z` binomial
  standard deviations plus `EXCESS_SLACK`), over at least `MIN_RESPONSES` responses
  and `MIN_THROTTLES` 429s. At a configured or stated rate the share must also reach
  `KNOWN_CUT_SHARE` (20 %) over `KNOWN_MIN_RESPONSES`: sporadic 429s never lower a rate
  the user or the server gave. An episode whose share stays within the noise for
  `EVAL_SECONDS` is forgotten.
- *The cut* is measured against the rate being *sent* before and during the episode (an
  average over unpaused time, so pauses do not lower it): the limit is estimated as
  ``sent * (1 - share) / (1 - ambient)`` (what got through, with ambient 429s counted as
  accepted) and the rate set to `CUT_GAIN` (90 %) of it, at least 5 % below the old rate
  (`cut_to`).
- *Verification and undo* (`judge_cut`). A cut is tentative. Among the answers to
  requests sent after it, a share of 429s back within the noise of the ambient share
  confirms it (throttling tracks our rate; CUBIC regrows around the estimated limit;
  the share left after a cut that worked is the tail of our own excess, so it may lower
  the ambient share but never raise it: raising it inflated the next estimate of the
  limit, whose cut then stayed above the limit, and Bird's 50/s at 150 ms drew 10 to
  20 % of 429s for good), and so does a share still at or above `CORRELATED_SHARE`, or
  risen by more than `VERIFY_Z` standard deviations (the limit fell further than the
  cut: more cuts follow). In between, the share that triggered the cut is a biased
  yardstick (the cut fired because it was high), so the verdict waits for
  `VERIFY_MAX_RESPONSES` answers or `VERIFY_MAX_SECONDS`: the cut stays only if the
  share at least halved (`UNDO_RATIO`); otherwise the rate goes back to where it was,
  and the share it kept becomes the ambient share (at most `MAX_AMBIENT`). A cut for a
  correlated share is kept at once: that much throttling is ours to fix whatever the
  cut achieves.
- *The floor.* A cut caused by a share below `CORRELATED_SHARE` never goes below
  `FLOOR_SHARE` (half) of the best rate accepted in a second of the last
  `FLOOR_MEMORY` whose throttling was not correlated; a verified cut resets that
  memory to what was just verified, so a limit that really fell is followed down, by
  at most half per step.
- *A small excess that persists* (`_Cuts._leaking`). An episode is judged over about
  half a second: at 50 requests/s, 25 answers, within whose noise 5 or 6 % of 429s
  pass for ever. Since the last rate change the answers add up: a share above the
  ambient one by more than noise and `LEAK_SHARE`, over `LEAK_RESPONSES` or more, is a
  tentative cut to `LEAK_CUT` of what was accepted meanwhile, verified like any other.
  Every client that shares a quota sees the same share and takes the same
  multiplicative step.
- *Probing past a known limit* (startup after `REDISCOVER`, or CUBIC above ``w_max``):
  its first excess of 429s sends the rate back below the most the server accepted
  since that excess began (an old limit that looked raised because its bucket had
  refilled costs a few 429s, not a cut; what was accepted before the excess includes
  that bucket's burst). No news to confirm: waiting for a fresh sample let a bucket
  that had hidden the overshoot answer a volley of 429s.

Imports: the standard library and the state, growth rules and verdicts of this package.
"""

from __future__ import annotations

import math
from typing import Final

from ._regrowth import _Regrowth
from ._state import MIN_RATE, MIN_RESPONSES, Phase, _Pending
from ._verdicts import BUCKET_SECONDS, CORRELATED_SHARE, excess_threshold

__all__ = ["cut_to", "judge_cut"]

#: Seconds, and responses at least, over which a cut's share is measured (up to 2 s).
EVAL_SECONDS: Final = 0.5
EVAL_RESPONSES: Final = 20
#: Seconds an episode of 429s is measured over at most before a new one starts.
EPISODE_SECONDS: Final = 2.0
#: Responses of the fresh sample that must confirm an excess before a cut.
CONFIRM_RESPONSES: Final = 20
#: Fewest 429s that can justify a cut (and `MIN_RESPONSES` responses).
MIN_THROTTLES: Final = 3
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
#: A share of 429s above the ambient one by more than noise and `LEAK_SHARE`, over
#: `LEAK_RESPONSES` answers or more since the last rate change, eases the rate off to
#: `LEAK_CUT` of what was accepted meanwhile (`_Cuts._leaking`).
LEAK_RESPONSES: Final = 100
LEAK_SHARE: Final = 0.01
LEAK_CUT: Final = 0.95


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


def cut_to(
    sent: float, rate: float, ambient: float, throttled: int, total: int
) -> tuple[float, float]:
    """Estimate the limit from an episode's 429s; return it and the rate to cut to.

    Args:
        sent: The rate being sent, requests per second.
        rate: The current rate.
        ambient: The share of 429s learnt not to be ours.
        throttled: The episode's 429s...
        total: ...out of this many answers.

    Returns:
        ``(limit, target)``: the estimated limit, and `CUT_GAIN` of it, no deeper than
        half of ``sent`` nor than the evidence allows, and at least 5 % below both the
        rate and ``sent`` (the floor is the caller's).
    """
    share = throttled / total
    limit = max(MIN_RATE, sent * (1.0 - share) / (1.0 - ambient))
    # No deeper than half, nor than the evidence allows: the share of answers that
    # got through is, with 95 % confidence, at most `_ok_upper` of what was sent.
    target = max(limit * CUT_GAIN, sent * min(DEEPEST_CUT, _ok_upper(total - throttled, total)))
    return limit, min(target, min(rate, sent) * MAX_CUT_RATIO)


def judge_cut(
    throttled: int, total: int, before: float, n_before: int, ambient: float
) -> tuple[bool, bool]:
    """Compare the share of 429s after a cut with the one before; return ``(fell, rose)``.

    Ours when the cut brought the 429s back within the noise, or when they are still
    most of the answers. Neither: the caller waits for a large sample, then keeps the
    cut only if the share at least halved (`UNDO_RATIO`).

    Args:
        throttled: 429s among the answers to requests sent after the cut...
        total: ...out of this many.
        before: The share of 429s that triggered the cut...
        n_before: ...measured over this many answers.
        ambient: The share of 429s learnt not to be ours.
    """
    share = throttled / total
    pooled = max((throttled + before * n_before) / (total + n_before), 0.01)
    noise = VERIFY_Z * math.sqrt(pooled * (1.0 - pooled) * (1.0 / total + 1.0 / n_before))
    fell = before - share > noise or share <= excess_threshold(ambient, total) < before
    rose = share >= CORRELATED_SHARE or share - before > noise
    return fell, rose


class _Cuts(_Regrowth):
    """The cut rules on the shared state and the growth rules (module doc)."""

    __slots__ = ()

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
            # Probing up past a known limit: back below the most it accepted now or
            # before, no deeper: not a cut (module doc). "Now" is since the episode's
            # first 429: before it, a server bucket that refilled while the rate was
            # below the limit lets a burst through, and the rate sent back to what it
            # accepted then would overshoot the limit by that burst.
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
        limit, target = cut_to(self._sending(now), self.rate, self.ambient, throttled, total)
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
        fell, rose = judge_cut(
            self._seg_throttled, total, pending.share, pending.responses, self.ambient
        )
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
