"""`HandOff` on a virtual clock: each hand-off gets exactly its timeout, from one timer."""

from __future__ import annotations

import asyncio

from asyncsdk.webhooks import parse_event
from asyncsdk.webhooks._events import CallEvent
from asyncsdk.webhooks._handoff import HandOff

from . import _vtime
from ._webhooks import event_body


def _event(request_id: str) -> CallEvent:
    return parse_event(event_body(), request_id=request_id)


class _Sink:
    """Takes ``quick`` events after ``pause`` seconds; never returns for the others."""

    def __init__(self, quick: set[str], pause: float) -> None:
        self.quick, self.pause = quick, pause

    async def __call__(self, event: CallEvent) -> None:
        if event.request_id in self.quick:
            await asyncio.sleep(self.pause)
            return
        await asyncio.Event().wait()


def test_hand_offs_begun_at_different_times_each_time_out_at_their_own_deadline() -> None:
    warnings: list[str] = []
    hand_off = HandOff(_Sink({"quick"}, pause=2.5), 5.0, lambda kind, *_: warnings.append(kind))

    async def at(start: float, request_id: str) -> tuple[str, bool, float]:
        await asyncio.sleep(start)
        taken = await hand_off(_event(request_id))
        return request_id, taken, asyncio.get_running_loop().time()

    async def main() -> list[tuple[str, bool, float]]:
        return await asyncio.gather(
            at(0, "stuck-0"), at(1, "quick"), at(1.5, "stuck-1.5"), at(4, "stuck-4")
        )

    outcomes = _vtime.run(main())
    assert outcomes == [
        ("stuck-0", False, 5.0),
        ("quick", True, 3.5),
        ("stuck-1.5", False, 6.5),
        ("stuck-4", False, 9.0),
    ]
    assert warnings == ["sink-timeout"] * 3
    assert not hand_off._inflight


def test_a_hand_off_reused_on_a_new_loop_still_times_out() -> None:
    hand_off = HandOff(_Sink(set(), pause=0), 2.0, lambda *_: None)

    async def one() -> tuple[bool, float]:
        return await hand_off(_event("x")), asyncio.get_running_loop().time()

    assert _vtime.run(one()) == (False, 2.0)
    assert _vtime.run(one()) == (False, 2.0)


def test_a_delivery_sink_that_is_not_async_is_a_refusal() -> None:
    class SyncStore:
        def __call__(self, event: CallEvent) -> None: ...

        def store_delivery(self, event: CallEvent, keys: tuple[str, ...]) -> bool:
            return True

    warnings: list[str] = []
    hand_off = HandOff(SyncStore(), 5.0, lambda kind, *_: warnings.append(kind))  # type: ignore[arg-type]
    assert _vtime.run(hand_off(_event("sync"), ("sync",))) is False
    assert warnings == ["sink-TypeError"]
