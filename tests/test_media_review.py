"""Download path regressions: libc bindings that keep their arguments.

Imports: pytest, the standard library and the package's `_media`.
"""

from __future__ import annotations

import ctypes
import sys

import pytest

from asyncsdk._media import _writeback


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
