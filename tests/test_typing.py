"""What type checkers say about the bulk helpers' arguments (mypy, as users run it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = """
import asyncio
import asyncsdk

async def use(client: asyncsdk.Client, ids: list[str], queue: asyncio.Queue[str | None]) -> None:
    await asyncsdk.gather_calls(client, "w", "c", ids)
    asyncsdk.iter_calls(client, "w", "c", ids)
    asyncsdk.iter_calls(client, "w", "c", queue)
    await asyncsdk.gather_calls(client, "w", "c", "one-id")  # line 9: refused
    asyncsdk.iter_calls(client, "w", "c", "one-id")  # line 10: never returns
    print("after")  # line 11: unreachable
"""


@pytest.mark.slow
def test_a_single_str_is_a_type_error(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    source = tmp_path / "snippet.py"
    source.write_text(textwrap.dedent(SNIPPET))
    # A cache kept between runs (mypy checks what changed): a cold one costs seconds.
    kept = getattr(request.config, "cache", None)
    cache = kept.mkdir("mypy") if kept is not None else tmp_path
    out, _, status = mypy_api.run(
        [
            "--strict",
            "--warn-unreachable",
            "--cache-dir",
            str(cache),
            str(source),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out
    lines = sorted(int(line.split(":")[1]) for line in errors)
    assert lines == [9, 11], out
