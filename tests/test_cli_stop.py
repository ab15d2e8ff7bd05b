"""asyncsdk fetch and export stop when nothing can succeed, and a fixed rerun takes the rest."""

from __future__ import annotations

import argparse
import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncsdk
from asyncsdk._giveup import KEY_HINT, give_up_reason
from asyncsdk.cli._common import name_key_source
from asyncsdk.server import Dataset

from ._support import refused_port
from .test_cli import ACCESS_KEY, api, credentials, exported_ids, fetch, write_ids

__all__ = ["api", "credentials"]  # the fixtures, shared with test_cli


def _stop_line(err: str) -> str:
    [line] = [x for x in err.splitlines() if x.startswith("asyncsdk: stopped: ")]
    return line


def test_fetch_stops_when_nothing_listens_and_resume_takes_every_id(
    api: tuple[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ds = api
    ids = write_ids(tmp_path / "ids.txt", list(ds.call_ids))
    out = tmp_path / "calls.jsonl"
    with refused_port() as port:
        code = fetch(api, ids, out, "--base-url", f"http://127.0.0.1:{port}")
    err = capsys.readouterr().err
    assert code == 1
    assert f"nothing answers at 127.0.0.1:{port} (Connection refused)" in _stop_line(err)
    assert "not tried" in err and "Traceback" not in err
    assert out.read_bytes() == b""
    failures = (tmp_path / "calls.failures.jsonl").read_text().splitlines()
    assert 1 <= len(failures) <= 32  # the IDs answered; the rest are not failures
    assert fetch(api, ids, out, "--resume") == 0
    assert sorted(exported_ids(out)) == sorted(str(c) for c in ds.call_ids)


def test_fetch_stops_on_a_refused_key(
    api: tuple[str, Dataset],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, ds = api
    ids = write_ids(tmp_path / "ids.txt", list(ds.call_ids))
    out = tmp_path / "calls.jsonl"
    monkeypatch.setenv("BIRD_ACCESS_KEY", "a-wrong-key")
    assert fetch(api, ids, out) == 1
    err = capsys.readouterr().err
    assert "401" in _stop_line(err) and "a-wrong-key" not in err
    [failure, *rest] = [
        json.loads(x) for x in (tmp_path / "calls.failures.jsonl").read_text().splitlines()
    ]
    assert failure["status"] == 401 and len(rest) < 32
    monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)
    assert fetch(api, ids, out, "--resume") == 0
    assert sorted(exported_ids(out)) == sorted(str(c) for c in ds.call_ids)


@pytest.mark.parametrize("source", ["option", "variable"])
def test_the_stop_line_on_a_refused_key_names_where_the_key_came_from(
    api: tuple[str, Dataset],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    """A wrong --access-key is not fixed by checking BIRD_ACCESS_KEY (which it overrides)."""
    _, ds = api
    ids = write_ids(tmp_path / "ids.txt", list(ds.call_ids[:5]))
    if source == "option":
        monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)  # right, but overridden
        code = fetch(api, ids, tmp_path / "calls.jsonl", "--access-key", "a-wrong-key")
    else:
        monkeypatch.setenv("BIRD_ACCESS_KEY", "a-wrong-key")
        code = fetch(api, ids, tmp_path / "calls.jsonl")
    assert code == 1
    line = _stop_line(capsys.readouterr().err)
    assert "401" in line and "a-wrong-key" not in line
    if source == "option":
        assert "--access-key" in line and "BIRD_ACCESS_KEY" not in line
    else:
        assert line.endswith("check BIRD_ACCESS_KEY")


def test_the_key_hint_of_the_sdk_reason_names_the_option_when_it_gave_the_key() -> None:
    refused = asyncsdk.AuthenticationError("x", method="GET", url="u", status=401)
    reason = give_up_reason(refused)
    # A library user may have passed access_key=: the SDK's own reason names both sources.
    assert reason is not None and reason.endswith(KEY_HINT)
    assert "access_key=" in KEY_HINT and "BIRD_ACCESS_KEY" in KEY_HINT
    by_option = argparse.Namespace(access_key="k")
    by_variable = argparse.Namespace(access_key=None)
    assert name_key_source(reason, by_option).endswith("check the key given with --access-key")
    assert name_key_source(reason, by_variable).endswith("): check BIRD_ACCESS_KEY")
    unreachable = "nothing answers at 127.0.0.1:9 (Connection refused)"
    assert name_key_source(unreachable, by_option) == unreachable


def test_a_stopped_fetch_counts_each_id_not_tried_once(
    api: tuple[str, Dataset],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Repeated IDs are fetched once, so the summary counts them once, with --resume too."""
    _, ds = api
    unique = [str(c) for c in ds.call_ids[:50]]
    ids = write_ids(tmp_path / "ids.txt", unique + unique[:20])  # 20 repeated
    out = tmp_path / "calls.jsonl"
    assert fetch(api, write_ids(tmp_path / "first.txt", unique[:10]), out) == 0
    monkeypatch.setenv("BIRD_ACCESS_KEY", "a-wrong-key")
    assert fetch(api, ids, out, "--resume", "--concurrency", "1") == 1
    err = capsys.readouterr().err
    summary = err.splitlines()[-1]
    assert "10 already there, 1 failed" in summary and ", 39 not tried," in summary, summary


def test_a_stopped_fetch_closes_its_id_file(
    api: tuple[str, Dataset],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The part-read ID file is closed when the run stops, not whenever GC gets to it."""
    from asyncsdk.cli import _fetch

    closed: list[Path] = []
    real = _fetch._file_ids

    def tracking(path: Path) -> Iterator[str]:
        try:
            yield from real(path)
        finally:
            closed.append(path)

    monkeypatch.setattr(_fetch, "_file_ids", tracking)
    _, ds = api
    ids = write_ids(tmp_path / "ids.txt", [str(c) for c in ds.call_ids[:50]])
    monkeypatch.setenv("BIRD_ACCESS_KEY", "a-wrong-key")
    gc.disable()  # only an explicit close counts, not a collection of a cycle
    try:
        assert fetch(api, ids, tmp_path / "calls.jsonl", "--concurrency", "1") == 1
        assert closed == [ids]
    finally:
        gc.enable()
