"""Download path regressions: libc bindings that keep their arguments, no fd left open.

Imports: pytest, the standard library and the package's `_media`.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
import threading
from pathlib import Path

import pytest

from asyncsdk._media import _writeback
from asyncsdk._media._blocks import BlockWriter
from asyncsdk._media._files import PartFile


def test_fallocate_takes_64_bit_offsets_in_a_32_bit_process() -> None:
    assert _writeback.fallocate_names(4) == ("fallocate64",)
    assert _writeback.fallocate_names(8) == ("fallocate64", "fallocate")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libc's fallocate is Linux's")
def test_fallocate_is_bound_to_the_symbol_with_64_bit_offsets() -> None:
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "fallocate64"):
        pytest.skip("this C library has no fallocate64")
    assert _writeback.FALLOCATE is not None
    assert getattr(_writeback.FALLOCATE, "__name__", None) == "fallocate64"


async def test_an_open_cancelled_while_its_thread_opens_closes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    opened: list[BlockWriter] = []
    original = PartFile._open

    def slow_open(self: PartFile, held: bool) -> BlockWriter:
        writer = original(self, held)
        opened.append(writer)
        entered.set()
        release.wait(30)
        return writer

    monkeypatch.setattr(PartFile, "_open", slow_open)
    part = PartFile(tmp_path / "a.mp3", resume=True)
    task = asyncio.create_task(part.open())
    assert await asyncio.to_thread(entered.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    for _ in range(3000):  # the thread hands its writer back, then the loop closes it
        if opened[0].fd is None:
            break
        await asyncio.sleep(0.01)
    assert opened[0].fd is None
