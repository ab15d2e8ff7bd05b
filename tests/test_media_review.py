"""Download path regressions: libc bindings that keep their arguments, no fd left open.

Imports: pytest, the standard library and the package's `_media`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import sys
import threading
from pathlib import Path

import pytest

from asyncsdk import DestinationError
from asyncsdk._media import _writeback
from asyncsdk._media._blocks import BLOCK, BlockWriter
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


async def test_a_drain_its_executor_cancels_fails_the_download_and_never_hangs(
    tmp_path: Path,
) -> None:
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', BLOCK)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(30)

    busy = pool.submit(hold)  # the only worker: a drain queued behind it waits
    try:
        assert started.wait(30)
        asyncio.get_running_loop().set_default_executor(pool)
        await part.write(b"x" * BLOCK)  # queued: its drain waits for the worker
        pool.shutdown(wait=False, cancel_futures=True)  # the drain never starts
        async with asyncio.timeout(30):  # before the fix: waits for the drain forever
            with pytest.raises(DestinationError):
                await part.finish(BLOCK)
            await part.aclose()
        assert not (tmp_path / "a.mp3").exists()
        assert not (tmp_path / "a.mp3.part").exists()  # its bytes are not whole
    finally:
        release.set()
        busy.result(30)
