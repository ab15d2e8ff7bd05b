"""The lab server's neighbour takes its tokens as they come, never a banked debt.

A neighbour that needs 100/s of an account's 200/s leaves the other 100/s to us,
whenever we come: an idle spell of ours (a pause the server asked for) must not turn
into a debt that then starves us for as long again.
"""

from __future__ import annotations

from asyncsdk.server._limiter import Quota


def _admitted(quota: Quota, start: float, end: float, every: float) -> int:
    t, n = start, 0
    while t < end - 1e-9:
        n += quota.acquire(t).allowed
        t += every
    return n


def test_after_an_idle_spell_our_share_is_there_at_once() -> None:
    quota = Quota(200.0, 20, 0.0, neighbour_rate=100.0)
    assert _admitted(quota, 0.0, 1.0, 0.02) == 50  # 50/s of the 100/s left to us
    # Five idle seconds, then 50/s again: every request is admitted.
    assert _admitted(quota, 6.0, 8.0, 0.02) == 100


def test_the_neighbour_still_leaves_only_the_rest() -> None:
    quota = Quota(200.0, 20, 0.0, neighbour_rate=100.0)
    _admitted(quota, 0.0, 3.0, 0.5)  # mostly idle
    admitted = _admitted(quota, 3.0, 13.0, 0.001)  # then 1,000/s for ten seconds
    assert 100 * 10 <= admitted <= 100 * 10 + 20 + 5  # the rest and the burst, no more
