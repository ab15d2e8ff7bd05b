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


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_single_str_is_a_type_error(tmp_path: Path) -> None:
    source = tmp_path / "snippet.py"
    source.write_text(textwrap.dedent(SNIPPET))
    # The project's own mypy settings and cache, the ones `make typecheck` (run before
    # the tests by `make test`) leaves: asyncsdk and its dependencies are then checked
    # already, and only the snippet is new. A cold cache costs seconds. mypy replaces
    # each cache file atomically, so a concurrent `make typecheck` does not corrupt it.
    out, _, status = mypy_api.run(
        [
            *("--config-file", str(ROOT / "pyproject.toml")),
            *("--cache-dir", str(ROOT / ".mypy_cache")),
            "--strict",
            "--warn-unreachable",
            str(source),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out
    lines = sorted(int(line.split(":")[1]) for line in errors)
    assert lines == [9, 11], out
