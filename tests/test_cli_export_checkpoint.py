"""``asyncsdk export --resume`` with a checkpoint file written before shards named calls.

An earlier asyncsdk wrote listing checkpoints of version 1, which counted positions in
pages; they cannot be resumed exactly, so ``--resume`` refuses them with what to do,
before any request and without touching the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli_export import Api, api, credentials, export

__all__ = ["api", "credentials"]  # the fixtures this module uses


def test_a_version_1_checkpoint_is_refused_and_the_output_left_alone(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.jsonl"
    assert export(api, out, "--status", "busy") == 0
    checkpoint = tmp_path / "calls.checkpoint.json"
    state = json.loads(checkpoint.read_text())
    listing = state["listing"]
    listing["version"] = 1
    listing["shards"] = [
        {
            "queryStart": listing["startAt"],
            "start": listing["startAt"],
            "end": listing["endAt"],
            "pageToken": None,
            "skip": 20,
            "cursor": listing["startAt"],
            "seen": 20,
        }
    ]
    checkpoint.write_text(json.dumps(state))
    with out.open("ab") as f:
        f.write(b'{"id": "a line the checkpoint does not count"}\n')
    before = out.read_bytes()
    assert export(api, out, "--status", "busy", "--resume") == 2
    err = capsys.readouterr().err
    assert "version 1" in err and "remove the output and its checkpoint" in err
    assert out.read_bytes() == before
