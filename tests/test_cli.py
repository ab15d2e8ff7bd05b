"""The asyncsdk command line: get, fetch (resume, bad input, Ctrl-C), serve, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncsdk.cli import main
from asyncsdk.server import Dataset

from ._support import served, wait_until_blocking

ACCESS_KEY = "cli-test-key"
SIZE = 300


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, Dataset]]:
    """The embedded server in a subprocess, as a user would run it."""
    args = ("--size", str(SIZE), "--access-key", ACCESS_KEY, "--latency", "0.002")
    with served(*args) as words:
        yield words[1], Dataset(size=SIZE)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)


def write_ids(path: Path, ids: list[object]) -> Path:
    path.write_text("".join(f"{i}\n" for i in ids))
    return path


def fetch_argv(api: tuple[str, Dataset], ids: Path | str, out: Path, *extra: str) -> list[str]:
    """The arguments of ``asyncsdk fetch`` against the test server."""
    base_url, ds = api
    return [
        *("fetch", str(ds.workspace_id), str(ds.channel_id)),
        *("--ids", str(ids), "--out", str(out), "--base-url", base_url),
        *extra,
    ]


def fetch(api: tuple[str, Dataset], ids: Path | str, out: Path, *extra: str) -> int:
    """Run ``asyncsdk fetch`` in this process; return its exit code."""
    return main(fetch_argv(api, ids, out, "--no-progress", *extra))


def exported_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]


def test_get_prints_one_call_as_json(
    api: tuple[str, Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, ds = api
    code = main(
        [
            "get",
            str(ds.workspace_id),
            str(ds.channel_id),
            str(ds.call_ids[3]),
            "--base-url",
            base_url,
        ]
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["id"] == str(ds.call_ids[3])


def test_get_unknown_call_is_one_line_and_exit_1(
    api: tuple[str, Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, ds = api
    code = main(
        [
            "get",
            str(ds.workspace_id),
            str(ds.channel_id),
            str(ds.missing_call_id()),
            "--base-url",
            base_url,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "NotFoundError" in err and "Traceback" not in err


def test_fetch_exports_every_call_once_and_lists_failures(
    api: tuple[str, Dataset], tmp_path: Path
) -> None:
    _, ds = api
    missing = ds.missing_call_id()
    ids = write_ids(tmp_path / "ids.txt", [*ds.call_ids[:50], ds.call_ids[0], "", missing])
    out = tmp_path / "calls.jsonl"
    assert fetch(api, ids, out) == 1  # one ID could not be fetched
    assert sorted(exported_ids(out)) == sorted(str(c) for c in ds.call_ids[:50])
    [failure] = [
        json.loads(x) for x in (tmp_path / "calls.failures.jsonl").read_text().splitlines()
    ]
    assert failure["id"] == str(missing) and failure["error"] == "NotFoundError"
    assert failure["status"] == 404


def test_plain_http_to_another_machine_is_refused_in_the_commands_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client's hint (``allow_insecure_http=True``) names no option a command has."""
    ids = write_ids(tmp_path / "ids.txt", [uuid.uuid4()])
    w, c = uuid.uuid4(), uuid.uuid4()
    argv = [
        *("fetch", str(w), str(c), "--ids", str(ids), "--out", str(tmp_path / "o.jsonl")),
        *("--base-url", "http://api.bird.com", "--no-progress"),
    ]
    assert main(argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "plain http to another machine" in line and "use https" in line
    assert "allow_insecure_http" not in line


def test_fetch_names_the_failure_every_id_met(
    api: tuple[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown workspace answers 404 for every ID: the summary says so in one line."""
    base_url, ds = api
    ids = write_ids(tmp_path / "ids.txt", ds.call_ids[:20])
    out = tmp_path / "calls.jsonl"
    unknown = uuid.UUID("11111111-2222-4333-8444-555555555555")
    argv = [
        *("fetch", str(unknown), str(ds.channel_id)),
        *("--ids", str(ids), "--out", str(out), "--base-url", base_url, "--no-progress"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("most failures: NotFoundError: ")
    assert err[-1].endswith("(20 of 20)")
    assert str(ds.call_ids[0]) not in err[-1]  # one line for all, not one URL


def test_fetch_resume_after_an_interruption_yields_each_call_exactly_once(
    api: tuple[str, Dataset], tmp_path: Path
) -> None:
    _, ds = api
    ids = write_ids(tmp_path / "ids.txt", list(ds.call_ids[:200]))
    out = tmp_path / "calls.jsonl"
    # A first run that "crashed": 80 calls written, then a line cut off mid-write.
    first = write_ids(tmp_path / "first.txt", list(ds.call_ids[:80]))
    assert fetch(api, first, out) == 0
    with out.open("ab") as f:
        f.write(b'{"id":"' + str(ds.call_ids[150]).encode() + b'","chan')
    assert fetch(api, ids, out) == 2  # refuses to overwrite without --resume
    assert fetch(api, ids, out, "--resume") == 0
    exported = exported_ids(out)
    assert len(exported) == len(set(exported)) == 200
    assert set(exported) == {str(c) for c in ds.call_ids[:200]}
    assert fetch(api, ids, out, "--resume") == 0  # nothing left to do
    assert len(exported_ids(out)) == 200


def test_fetch_reads_ids_from_stdin(api: tuple[str, Dataset], tmp_path: Path) -> None:
    ds = api[1]
    out = tmp_path / "calls.jsonl"
    ids = "".join(f"{c}\n" for c in ds.call_ids[:30])
    proc = subprocess.run(
        [sys.executable, "-m", "asyncsdk", *fetch_argv(api, "-", out)],
        input=ids,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(exported_ids(out)) == 30
    assert "progress:" in proc.stderr or "30 calls written" in proc.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("", "holds no call IDs"),
        ("\n# only a comment\n", "holds no call IDs"),
        (f"{uuid.UUID(int=4)}\nnot-a-uuid\n", "ids.txt:2: not a call UUID: 'not-a-uuid'"),
    ],
)
def test_bad_id_files_are_one_clear_line_and_exit_2(
    api: tuple[str, Dataset],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    ids = tmp_path / "ids.txt"
    if content is not None:
        ids.write_text(content)
    out = tmp_path / "calls.jsonl"
    assert fetch(api, ids, out) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # nothing was fetched


def test_missing_credentials_exit_2(
    api: tuple[str, Dataset],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, ds = api
    monkeypatch.delenv("BIRD_ACCESS_KEY")
    ids = write_ids(tmp_path / "ids.txt", list(ds.call_ids[:3]))
    assert fetch(api, ids, tmp_path / "calls.jsonl") == 2
    assert "no credentials" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_cleanly_with_everything_fetched_on_disk(
    api: tuple[str, Dataset], tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C, and SIGTERM (a service manager's stop), end with the summary and 130."""
    ds = api[1]
    ids = write_ids(tmp_path / "ids.txt", list(ds.call_ids))
    out = tmp_path / "calls.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncsdk", *fetch_argv(api, ids, out, "--rate-limit", "25")],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY},
    )
    # wait until some calls are on disk, then interrupt as a user would
    wait_until_blocking(
        lambda: out.exists() and out.stat().st_size >= 2000, process=proc, what="calls on disk"
    )
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    partial = exported_ids(out)
    assert 0 < len(partial) < SIZE
    assert fetch(api, ids, out, "--resume") == 0
    exported = exported_ids(out)
    assert len(exported) == len(set(exported)) == SIZE


def test_demo_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--calls", "200", "--limit", "1000", "--latency", "0.001"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "calls fetched",
        "failures",
        "retries",
        "throttled",
        "achieved rate",
        "server stopped",
    ):
        assert needle in out
    # The failures are the IDs it made up, and it says so; its archive is not kept.
    assert "(3 of them the IDs made up to show a failure)" in out
    assert "temporary directory, removed" in out


def test_serve_on_a_port_in_use_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("asyncsdk: error: cannot listen: ")
    assert "in use" in line and line.endswith("pick another --port")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range(capsys: pytest.CaptureFixture[str], port: str) -> None:
    assert main(["serve", "--port", port]) == 2
    assert f"--port must be 0 to 65535, got {port}" in capsys.readouterr().err


FETCH = ["fetch", "w", "c", "--ids", "IDS"]
EXPORT = ["export", "w", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z"]


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ([*FETCH, "--out", "MISSING/calls.jsonl"], "--out"),
        ([*FETCH, "--out", "calls.jsonl", "--failures", "MISSING/f.jsonl"], "--failures"),
        ([*EXPORT, "--out", "MISSING/calls.jsonl"], "--out"),
        ([*EXPORT, "--out", "calls.jsonl", "--checkpoint", "MISSING/c.json"], "--checkpoint"),
        (["listen", "--port", "0", "--out", "MISSING/events.jsonl"], "--out"),
        (["listen", "--port", "0", "--out", "e.jsonl", "--db", "MISSING/c.sqlite"], "--db"),
    ],
)
def test_an_output_in_a_missing_directory_is_a_usage_error(
    command: list[str],
    option: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no" / "such"
    ids = write_ids(tmp_path / "ids.txt", [uuid.uuid4()])
    argv = [
        str(missing) + a.removeprefix("MISSING") if a.startswith("MISSING") else a for a in command
    ]
    argv = [str(ids) if a == "IDS" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{option} " in err and f"the directory {missing} does not exist" in err
    assert list(tmp_path.iterdir()) == [ids]  # nothing written
