"""``asyncsdk recordings`` refuses what cannot work, and says what to fix, before archiving.

A workspace that is not a UUID is a usage error (exit 2) before any request or file;
a run that cannot succeed (a refused credential, nothing answering at ``--base-url``)
stops after one listing request with ``stopped: <why>`` (exit 1), archives nothing, and
does not advise ``--resume``, which would fail the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncsdk.cli import main
from asyncsdk.server import Dataset, EmbeddedServer, RecordingsConfig, ServerConfig

from ._support import refused_port

ACCESS_KEY = "recordings-stop-key"


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,), recordings=RecordingsConfig(size=1_000))
    async with EmbeddedServer(config, dataset=Dataset(size=5, seed=3)) as srv:
        yield srv


def argv(workspace: str, base_url: str, out: Path, *extra: str) -> list[str]:
    return [
        *("recordings", workspace, "--since", "2026-01-01T00:00:00Z"),
        *("--until", "2027-01-01T00:00:00Z", "--out", str(out)),
        *("--base-url", base_url, "--no-progress", "--max-retries", "1", *extra),
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("workspace", "workspace must be a UUID, got '12345'"),
        ("channel", "--channel must be a UUID, got 'main'"),
    ],
)
async def test_an_id_that_is_not_a_uuid_is_refused_before_anything(
    server: EmbeddedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: str,
    message: str,
) -> None:
    out = tmp_path / "archive"
    workspace = "12345" if bad == "workspace" else str(server.dataset.workspace_id)
    extra = [f"--access-key={ACCESS_KEY}", *(("--channel", "main") if bad == "channel" else ())]
    assert await asyncio.to_thread(main, argv(workspace, server.base_url, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert server.stats.requests == 0


async def test_a_refused_credential_stops_at_once_and_says_what_to_fix(
    server: EmbeddedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "archive"
    workspace = str(server.dataset.workspace_id)
    code = await asyncio.to_thread(
        main, argv(workspace, server.base_url, out, "--access-key=wrong")
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "stopped: the API refused the credential (401 Unauthorized): check" in err
    assert "--resume" not in err
    assert "wrong" not in err  # the credential itself is never shown
    assert not out.exists()  # the directory it made for the run is gone again
    # Fixed, the same command (no --resume) archives the window.
    extra = (f"--access-key={ACCESS_KEY}",)
    assert await asyncio.to_thread(main, argv(workspace, server.base_url, out, *extra)) == 0
    assert (out / "manifest.jsonl").read_bytes().count(b"\n") > 0
    # The megabytes count every byte received, those of files not finished too.
    assert " MB received in " in capsys.readouterr().err


async def test_nothing_answering_stops_with_the_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "archive"
    workspace = "46582261-7583-41f6-87c5-3d92a1403d43"
    with refused_port() as port:
        base_url = f"http://127.0.0.1:{port}"
        code = await asyncio.to_thread(main, argv(workspace, base_url, out, "--access-key=k"))
    assert code == 1
    err = capsys.readouterr().err
    assert f"stopped: nothing answers at 127.0.0.1:{port}" in err
    assert "--resume" not in err
    assert not out.exists()
