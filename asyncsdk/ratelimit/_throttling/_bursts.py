"""Burst tests: which answers belong to a burst, and what a burst's 429s say.

A *burst* is a few requests let through at once: the request the bucket grants next
and the `BURST_SIZE` - 1 callers queued behind it, paid for by the tokens that follow
(the bucket's tokens go negative), so the average rate does not change. A limiter at
its limit (a token bucket, a window, an in-flight cap) that refuses one request refuses
the ones right behind it; 429s that do not depend on the rate refuse each request
alone. So a burst's count of 429s tells a quota held at its limit from sporadic 429s
where the *share* of 429s over time cannot (``docs/throttling-research.md``, "Burst
tests", has the distributions, measured with bursts of 8: at most two refused in 99 %
of bursts under 10 % sporadic 429s, three or more in about four of five at a shared
limit; the form sends 6).

`BurstLedger` is the bookkeeping only: it numbers answers in the order they come back
and attributes to the burst those that come back after everything granted before it. A
burst with a failed answer (no response, a 5xx, a request the caller gave up on) is
*spoiled*: its count says nothing about the limiter.
The decisions (when to ask, what a count means) are the controller's
(``_shared_start``). The count relies on answers coming back roughly in the order the
requests were sent; the lab's reordered-answers runs (up to 20 ms) are the evidence
that a modest reordering does not break it.

No library counts answers against a burst; this module is the SDK's own.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from typing import Final, Literal, NamedTuple

__all__ = ["BURST_SIZE", "BurstLedger", "BurstResult", "Purpose", "binomial_tail"]

#: Requests a burst sends at once. Six rather than eight: as telling in virtual time,
#: and fewer 429s for each test (research page, "Burst tests").
BURST_SIZE: Final = 6

#: What a burst's result decides: ``"early"`` (the first seconds' test), ``"gate"`` (a
#: gated start test's doubling), ``"test"`` (a start test's check of its flat segments).
Purpose = Literal["early", "gate", "test"]


class BurstResult(NamedTuple):
    """A burst's answers, all in."""

    purpose: Purpose
    refused: int  # 429s
    answers: int  # 0: void (too few callers were queued to send it)
    failed: int  # answers that were failures: the burst is spoiled if any


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how surprising ``k`` 429s of ``n`` are at share ``p``."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


class BurstLedger:
    """Which answers are a burst's, and the burst's count of 429s.

    The controller calls `ask` when it wants a burst; when the bucket grants a request
    from its queue, the controller's ``want_burst`` calls `take` (how many more to grant
    at once) and its ``burst_sent`` calls `sent` (how many went); every answer goes to
    `answer`, which tells whether it was a burst's and returns the result with the last.
    """

    __slots__ = (
        "_answered",
        "_failed",
        "_hi",
        "_lo",
        "_refused",
        "_taken",
        "_void",
        "answers",
        "last",
        "purpose",
        "wanted",
    )

    def __init__(self) -> None:
        self.answers = 0  # answers (responses and failures) so far, in order
        self.wanted = False  # a burst is asked for and not taken yet
        self.purpose: Purpose = "test"  # the pending ask's
        self.last = -math.inf  # when the last burst was taken
        self._lo = self._hi = -1  # the burst's answers are those numbered lo+1 .. hi
        self._answered = self._refused = self._failed = 0
        self._void = False
        self._taken: Purpose = "test"  # the purpose of the burst out

    @property
    def open(self) -> bool:
        """A burst was sent and not all its answers are in."""
        return self._lo >= 0

    def ask(self, purpose: Purpose) -> None:
        """Ask for a burst with the next grant from the bucket's queue (replaces an ask)."""
        self.wanted = True
        self.purpose = purpose

    def cancel(self) -> None:
        """Drop a pending ask (a burst already out still reports)."""
        self.wanted = False

    def take(self, now: float, due_before: int) -> int:
        """A queued request is granted: return how many more to grant with it (0: none).

        Args:
            now: The time of the grant.
            due_before: Answers due before the burst's: those so far plus those in flight
                before this grant.
        """
        if not self.wanted or self.open:
            return 0
        self.wanted = False
        self._taken = self.purpose
        self.last = now
        self._lo = due_before
        return BURST_SIZE - 1

    def sent(self, extra: int) -> None:
        """The bucket granted ``extra`` requests with the one that took the burst.

        Fewer than asked (too few callers queued) makes the burst *void*: its answers
        are still set apart, but they tell nothing of the server.
        """
        self._void = extra < BURST_SIZE - 1
        self._hi = self._lo + 1 + extra
        self._answered = self._refused = self._failed = 0

    def answer(self, throttled: bool, *, failed: bool = False) -> tuple[bool, BurstResult | None]:
        """Count one answer (a failure with ``failed``), in the order it came back.

        Returns:
            Whether it was a burst's answer, and, with the burst's last answer, its result.
        """
        self.answers += 1
        if not (self._lo >= 0 and self._lo < self.answers <= self._hi):
            return False, None
        self._answered += 1
        self._refused += int(throttled)
        self._failed += int(failed)
        if self._answered < self._hi - self._lo:
            return True, None
        self._lo = self._hi = -1
        if self._void:
            return True, BurstResult(self._taken, 0, 0, 0)
        return True, BurstResult(self._taken, self._refused, self._answered, self._failed)
