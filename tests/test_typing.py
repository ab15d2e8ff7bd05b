"""What type checkers say about the SDK as users write it (mypy, as users run it)."""

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

async def digests(client: asyncsdk.Client) -> None:
    hashed = await client.download_recording("w", "r", "d")
    hashed.sha256.lower()  # line 15: a str by default
    unhashed = await client.download_recording("w", "r", "d", checksum=None)
    unhashed.sha256.lower()  # line 17: None with checksum=None
    either: list[asyncsdk.DownloadResult[str | None]] = [hashed, unhashed]  # both fit
"""


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_what_mypy_refuses(tmp_path: Path) -> None:
    """A single str where the bulk helpers take many IDs; a digest asked not to be made."""
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
    assert lines == [9, 11, 17], out
