"""`Closing`: one ``async with`` for every class that ``aclose`` ends."""

from __future__ import annotations

import asyncio

import pytest

from asyncsdk import CallPager, CallStream, Client, MediaStream, RecordingListing, ShardedListing
from asyncsdk._closing import Closing
from asyncsdk._pump import Stream
from asyncsdk.listing import Pager


class _Held(Closing):
    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_the_block_gets_the_object_and_leaving_closes_it() -> None:
    async def scenario() -> _Held:
        async with _Held() as held:
            assert held.closed == 0
        return held

    assert asyncio.run(scenario()).closed == 1


def test_an_error_in_the_block_closes_it_and_goes_on() -> None:
    held = _Held()

    async def scenario() -> None:
        async with held:
            raise LookupError("inside")

    with pytest.raises(LookupError, match="inside"):
        asyncio.run(scenario())
    assert held.closed == 1


@pytest.mark.parametrize(
    "cls",
    [Client, Pager, CallPager, ShardedListing, RecordingListing, MediaStream, Stream, CallStream],
)
def test_each_class_leaves_through_closing(cls: type) -> None:
    """One ``__aexit__`` for all; each class keeps its own ``aclose`` (and the client its entry)."""
    assert cls.__aexit__ is Closing.__aexit__
    assert cls.aclose is not Closing.aclose
    assert cls.__aenter__ is (Closing.__aenter__ if cls is not Client else Client.__aenter__)


@pytest.mark.parametrize("cls", [Client, Pager, CallPager, Stream])
def test_a_class_with_slots_keeps_no_instance_dict(cls: type) -> None:
    assert cls.__dictoffset__ == 0
