"""asyncsdk export: a run that fails before its first page leaves nothing that blocks the next.

Nothing listening, a refused key and an unknown workspace each end the export before
its first page: exit 1 with one line saying why, no checkpoint and no empty output,
so the corrected rerun (with or without --resume) just runs.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ._support import refused_port
from .test_cli_export import Api, api, credentials, export, exported_ids

__all__ = ["api", "credentials"]  # the fixtures, shared with test_cli_export


def _left_behind(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


def test_nothing_listening_stops_at_once_and_leaves_nothing(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.jsonl"
    with refused_port() as port:
        assert export(api, out, "--base-url", f"http://127.0.0.1:{port}") == 1
    err = capsys.readouterr().err
    assert f"asyncsdk: stopped: nothing answers at 127.0.0.1:{port}" in err
    assert "--resume" not in err and "Traceback" not in err
    assert _left_behind(tmp_path) == []
    assert export(api, out) == 0  # the corrected rerun, no --resume needed
    assert len(exported_ids(out)) == 3000


def test_a_refused_key_stops_and_the_rerun_with_resume_is_accepted(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "calls.jsonl"
    monkeypatch.setenv("BIRD_ACCESS_KEY", "a-wrong-key")
    assert export(api, out) == 1
    err = capsys.readouterr().err
    assert "asyncsdk: stopped: the API refused the credential (401" in err
    assert "a-wrong-key" not in err
    assert _left_behind(tmp_path) == []
    monkeypatch.undo()
    monkeypatch.setenv("BIRD_ACCESS_KEY", "export-test-key")
    assert export(api, out, "--resume") == 0
    assert len(exported_ids(out)) == 3000


def test_an_unknown_workspace_leaves_nothing_for_the_corrected_run(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.jsonl"
    wrong = api._replace(workspace=str(uuid.uuid4()))
    assert export(wrong, out) == 1
    err = capsys.readouterr().err
    assert "asyncsdk: error:" in err
    assert _left_behind(tmp_path) == []
    assert export(api, out, "--resume") == 0  # another listing: accepted, nothing began
    assert len(exported_ids(out)) == 3000


def test_the_checkpoint_of_a_run_killed_before_its_first_page_blocks_nothing(
    api: Api, tmp_path: Path
) -> None:
    """kill -9 before any page leaves a checkpoint counting nothing: a fresh run goes on."""
    import msgspec

    from asyncsdk.cli._checkpoint import ExportState

    from .test_cli_export import DONE_LISTING

    out = tmp_path / "calls.jsonl"
    checkpoint = tmp_path / "calls.checkpoint.json"
    unstarted = ExportState(output_bytes=0, calls=0, pages=0, listing=DONE_LISTING)
    checkpoint.write_bytes(msgspec.json.encode(unstarted))
    out.write_bytes(b"")
    assert export(api, out) == 0  # no --resume, and another listing: accepted
    assert len(exported_ids(out)) == 3000
