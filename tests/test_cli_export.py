"""``asyncsdk export``: exactly once through SIGKILL and Ctrl-C, compared with a straight run.

The embedded server runs in a subprocess, as a user would run it; an export that is
killed runs as a real ``python -m asyncsdk`` process, the others in this process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pytest

import asyncsdk
from asyncsdk.cli import main
from asyncsdk.cli._checkpoint import Checkpointer, ExportState

from ._support import served, wait_until_blocking

ACCESS_KEY = "export-test-key"
SIZE = 3000
SINCE = "2026-01-01T00:00:00Z"
UNTIL = "2026-01-02T00:00:00Z"


class Api(NamedTuple):
    base_url: str
    workspace: str
    channel: str


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """The embedded server: a day of calls, half of them in one hour."""
    with served(
        *("--size", str(SIZE), "--access-key", ACCESS_KEY, "--span-days", "1"),
        *("--busy-share", "0.5", "--page-latency", "0.05", "--seed", "11"),
    ) as words:
        yield _api(words)


def _api(words: list[str]) -> Api:
    """The server's address and IDs, from the words of its announcement."""
    fields = dict(w.split("=", 1) for w in words if "=" in w)
    return Api(words[1], fields["workspace"], fields["channel"])


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)


def export_argv(api: Api, out: Path, *extra: str) -> list[str]:
    return [
        *("export", api.workspace, "--since", SINCE, "--until", UNTIL),
        *("--out", str(out), "--base-url", api.base_url, "--page-size", "50"),
        *extra,
    ]


def export(api: Api, out: Path, *extra: str) -> int:
    """Run ``asyncsdk export`` in this process; return its exit code."""
    return main(export_argv(api, out, "--no-progress", *extra))


def start_export(api: Api, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncsdk", *export_argv(api, out, *extra)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY},
    )


def wait_for_lines(proc: subprocess.Popen[str], out: Path, lines: int) -> None:
    """Poll until ``out`` holds ``lines`` lines (the process is another one: no fake clock)."""
    wait_until_blocking(
        lambda: out.exists() and out.read_bytes().count(b"\n") >= lines,
        process=proc,
        what=f"{lines} lines exported (the export must not finish before it is interrupted)",
    )


def exported_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(api: Api, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The reference: one uninterrupted export of the window."""
    out = tmp_path_factory.mktemp("straight") / "calls.jsonl"
    argv = export_argv(api, out, "--no-progress", "--shards", "4", "--access-key", ACCESS_KEY)
    assert main(argv) == 0
    ids = exported_ids(out)
    assert len(ids) == len(set(ids)) == SIZE
    return ids


def same_calls(out: Path, straight: list[str]) -> None:
    ids = exported_ids(out)
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert set(ids) == set(straight)  # no gaps
    assert len(ids) == len(straight)


@pytest.mark.parametrize("after", [1, 700, 2200])
def test_killed_then_resumed_writes_each_call_once(
    api: Api, straight: list[str], tmp_path: Path, after: int
) -> None:
    """SIGKILL at three points of the run; --resume completes it, exactly once."""
    out = tmp_path / "calls.jsonl"
    proc = start_export(api, out, "--rate-limit", "30", "--no-progress")
    wait_for_lines(proc, out, after)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "calls.checkpoint.json").exists()
    assert export(api, out, "--resume") == 0
    same_calls(out, straight)
    assert export(api, out, "--resume") == 0  # nothing left to do
    same_calls(out, straight)


def test_killed_again_and_again(api: Api, straight: list[str], tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    for round_number, after in enumerate((300, 900, 1500, 2100)):
        extra = ("--resume",) if round_number else ()
        proc = start_export(api, out, "--rate-limit", "30", "--no-progress", *extra)
        wait_for_lines(proc, out, after)
        proc.kill()
        proc.communicate(timeout=30)
    assert export(api, out, "--resume", "--shards", "3") == 0
    same_calls(out, straight)


def test_lines_past_the_checkpoint_are_cut_and_listed_again(
    api: Api, straight: list[str], tmp_path: Path
) -> None:
    """A page written but not checkpointed (and a torn line) when the process died."""
    out = tmp_path / "calls.jsonl"
    proc = start_export(api, out, "--rate-limit", "30", "--no-progress")
    wait_for_lines(proc, out, 500)
    proc.kill()
    proc.communicate(timeout=30)
    lines = out.read_bytes().splitlines(keepends=True)
    with out.open("ab") as f:
        f.write(b"".join(lines[:40]))  # as if a page had been written, not checkpointed
        f.write(lines[41][:30])  # and a line cut short
    assert export(api, out, "--resume") == 0
    same_calls(out, straight)


def test_ctrl_c_stops_cleanly_and_resume_finishes(
    api: Api, straight: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "calls.jsonl"
    proc = start_export(api, out, "--rate-limit", "10")
    wait_for_lines(proc, out, 600)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert "progress:" in stderr and "% of the window" in stderr and "pages" in stderr
    partial = exported_ids(out)
    assert 600 <= len(partial) < SIZE
    assert export(api, out, "--resume") == 0
    same_calls(out, straight)


def test_fetch_reads_the_ids_of_an_export(
    api: Api, straight: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """List, then fetch details: two commands."""
    out = tmp_path / "calls.jsonl"
    assert export(api, out, "--status", "completed", "--shards", "2") == 0
    listed = exported_ids(out)
    assert 0 < len(listed) < SIZE
    details = tmp_path / "details.jsonl"
    code = main(
        [
            *("fetch", api.workspace, api.channel, "--ids", str(out)),
            *("--out", str(details), "--base-url", api.base_url, "--no-progress"),
        ]
    )
    assert code == 0
    fetched = [json.loads(line) for line in details.read_text().splitlines()]
    assert sorted(c["id"] for c in fetched) == sorted(listed)
    assert {c["status"] for c in fetched} == {"completed"}
    capsys.readouterr()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "not-a-uuid"}\n')
    assert (
        main(["fetch", api.workspace, api.channel, "--ids", str(bad), "--out", str(details)]) == 2
    )
    assert "bad.jsonl:1: a JSON line without a call id" in capsys.readouterr().err


# --- refusals: exit code 2, nothing written or cut ------------------------------------------


def test_an_existing_output_or_checkpoint_needs_resume(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.jsonl"
    out.write_text("mine\n")
    assert export(api, out) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert export(api, out, "--resume") == 2  # no checkpoint: not an export of ours
    assert "not an export to resume" in capsys.readouterr().err
    assert out.read_text() == "mine\n"  # untouched
    out.unlink()
    (tmp_path / "calls.checkpoint.json").write_text("{}")
    assert export(api, out) == 2
    assert "calls.checkpoint.json exists" in capsys.readouterr().err
    assert export(api, out, "--resume") == 2
    assert "cannot read the checkpoint" in capsys.readouterr().err


def test_a_checkpoint_of_another_export_is_refused(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.jsonl"
    assert export(api, out, "--status", "busy") == 0
    with out.open("ab") as f:
        f.write(b'{"id": "a line the checkpoint does not count"}\n')
    before = out.read_bytes()
    assert export(api, out, "--status", "failed", "--resume") == 2
    assert "another listing" in capsys.readouterr().err
    assert out.read_bytes() == before  # refused before the output was cut back


def test_an_output_shorter_than_its_checkpoint_is_refused(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calls.jsonl"
    assert export(api, out, "--status", "busy") == 0
    out.write_bytes(out.read_bytes()[:100])
    assert export(api, out, "--status", "busy", "--resume") == 2
    assert "was changed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", UNTIL, "--until", SINCE], "--since must be before --until"),
        (["--shards", "0"], "shards must be"),
        (["--page-size", "5000"], "page_size"),
        (["--channel", "nope"], "channel_ids"),
    ],
)
def test_bad_options_exit_2(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "calls.jsonl"
    assert main([*export_argv(api, out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or out.stat().st_size == 0


def test_a_naive_date_is_a_usage_error(api: Api, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export", api.workspace, "--since", "2026-01-01", "--until", UNTIL, "--out", "x"])
    assert exited.value.code == 2


def test_an_api_failure_exits_1_and_resume_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page that fails for good: exit 1, what was written stays; --resume completes."""
    out = tmp_path / "calls.jsonl"
    with served(
        *("--size", "1500", "--access-key", ACCESS_KEY, "--span-days", "1", "--fault-500", "0.1")
    ) as words:
        api = _api(words)
        codes = [export(api, out, "--max-retries", "0")]
        while codes[-1] == 1:
            codes.append(export(api, out, "--max-retries", "0", "--resume"))
            assert len(codes) < 50
    assert codes[0] == 1 and codes[-1] == 0
    err = capsys.readouterr().err
    assert "ServerError" in err and "stopped by the error above" in err
    ids = exported_ids(out)
    assert len(ids) == len(set(ids)) == 1500


#: A finished listing's checkpoint: what the Checkpointer tests write around.
DONE_LISTING = asyncsdk.ListingCheckpoint(
    query="q",
    start_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    end_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    page_size=10,
    shards=[],
)


def worker_idle(checkpointer: Checkpointer) -> None:
    """Wait until the checkpointer's worker has finished what it was given; fail if never."""
    wait_until_blocking(lambda: not checkpointer._busy, what="the checkpointer is idle")


def test_the_checkpointer_tries_the_final_state_after_a_failed_write(tmp_path: Path) -> None:
    """A write that failed (say, a full disk) does not stop the last checkpoint."""

    folder = tmp_path / "later"  # missing at first: every write fails
    path = folder / "calls.checkpoint.json"
    start = DONE_LISTING

    def failed_once(output: BinaryIO) -> Checkpointer:
        checkpointer = Checkpointer(output, path)
        checkpointer.submit(ExportState(output_bytes=0, calls=0, pages=0, listing=start))
        worker_idle(checkpointer)
        return checkpointer

    with (tmp_path / "calls.jsonl").open("wb") as output:
        checkpointer = failed_once(output)
        with pytest.raises(FileNotFoundError):  # the next page hears of it
            checkpointer.submit(ExportState(output_bytes=0, calls=0, pages=1, listing=start))
        checkpointer = failed_once(output)
        folder.mkdir()  # the disk has room again
        checkpointer.close(ExportState(output_bytes=0, calls=0, pages=2, listing=start))
    assert json.loads(path.read_bytes())["pages"] == 2


def test_after_a_failed_fsync_of_the_output_no_checkpoint_counts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux reports a lost writeback to one fsync only; the next would say all is well."""
    path = tmp_path / "calls.checkpoint.json"
    start = DONE_LISTING
    real_fsync = os.fsync
    failed: list[int] = []

    def fsync_fails_once(fd: int) -> None:
        if not failed:
            failed.append(fd)
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr("asyncsdk.cli._checkpoint.os.fsync", fsync_fails_once)
    with (tmp_path / "calls.jsonl").open("wb") as output:
        output.write(b"a line\n")
        output.flush()
        checkpointer = Checkpointer(output, path)
        checkpointer.submit(ExportState(output_bytes=7, calls=1, pages=1, listing=start))
        worker_idle(checkpointer)
        with pytest.raises(OSError, match="Input/output"):
            checkpointer.close(ExportState(output_bytes=7, calls=1, pages=1, listing=start))
    assert failed
    assert not path.exists()
