"""``asyncsdk listen``'s progress line: the rate since the line before, not since the start."""

from __future__ import annotations

from asyncsdk.cli._listenstate import rate_since


def test_a_quiet_listener_shows_zero_per_second_after_a_burst() -> None:
    # 3,699 events in the first 20 s, then nothing for the next 2 s.
    assert rate_since((0.0, 0), 20.0, 3699) == 3699 / 20
    assert rate_since((20.0, 3699), 22.0, 3699) == 0


def test_a_line_made_at_once_after_the_last_does_not_divide_by_zero() -> None:
    assert rate_since((5.0, 10), 5.0, 10) == 0
