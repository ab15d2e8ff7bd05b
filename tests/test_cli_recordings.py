"""``asyncsdk recordings``: an archive exactly once, across SIGKILL, Ctrl-C and ``--resume``.

The embedded server runs in the test's event loop; the command runs in a worker thread
(its own event loop, as from a shell) or, where a process is killed, as a real
``python -m asyncsdk`` process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncsdk.cli import main
from asyncsdk.cli._demo import archive_complete
from asyncsdk.server import Dataset, EmbeddedServer, RecordingsConfig, ServerConfig

from ._support import wait_until

ACCESS_KEY = "recordings-cli-key"
SIZE = 40
RECORDING = 300_000


def _server(bandwidth: int | None = None) -> EmbeddedServer:
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        recordings=RecordingsConfig(
            size=RECORDING, unavailable_every=7, transcribed_every=3, bandwidth=bandwidth
        ),
    )
    return EmbeddedServer(config, dataset=Dataset(size=SIZE, seed=3))


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with _server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)


def argv(server: EmbeddedServer, out: Path, *extra: str) -> list[str]:
    timeline = server.dataset.timeline
    return [
        *("recordings", str(server.dataset.workspace_id)),
        *("--since", timeline.start.isoformat(), "--until", timeline.end.isoformat()),
        *("--out", str(out), "--base-url", server.base_url, "--no-progress"),
        *extra,
    ]


async def run(server: EmbeddedServer, out: Path, *extra: str) -> int:
    return await asyncio.to_thread(main, argv(server, out, *extra))


def expected(server: EmbeddedServer) -> set[str]:
    """The recordings of the window that have media."""
    recordings = server.recordings
    return {
        str(recordings.recording_id(i))
        for i in range(SIZE)
        if recordings.available(i) and not recordings.active(i)
    }


def check_archive(server: EmbeddedServer, out: Path, *, transcripts: bool = False) -> None:
    """Every recording with media once in the manifest, each file whole and checked."""
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    counts = Counter(line["id"] for line in lines)
    assert set(counts) == expected(server)
    assert max(counts.values()) == 1, "a recording was written twice to the manifest"
    recordings = server.recordings
    for line in lines:
        index = recordings.index(line["id"])
        assert index is not None
        path = out / line["path"]
        assert line["sha256"] == server.objects.sha256(recordings.media_key(index))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == line["sha256"]
        assert line["bytes"] == RECORDING
        meta = json.loads((out / f"{line['id']}.meta.json").read_text())
        assert meta["id"] == line["id"] and "url" not in meta
        if transcripts and recordings.transcribed(index):
            assert set(line["transcripts"]) == {"txt", "json"}
            txt = (out / line["transcripts"]["txt"]["path"]).read_bytes()
            assert txt == server.objects.content(recordings.transcript_key(index, "txt"))
    assert not [name for name in os.listdir(out) if name.endswith((".part", ".tmp"))]
    assert "X-Amz-Signature" not in (out / "manifest.jsonl").read_text()


async def test_archive_of_a_window(server: EmbeddedServer, tmp_path: Path) -> None:
    out = tmp_path / "archive"
    assert await run(server, out, "--transcripts", "txt,json", "--concurrency", "4") == 0
    check_archive(server, out, transcripts=True)
    assert (out / "failures.jsonl").read_bytes() == b""
    # The store listens on a loopback port other processes on the machine may also try:
    # what matters is that none of the requests carried this client's credential.
    sent = [r.headers.get("Authorization", "") for r in server.objects.requests]
    assert not [value for value in sent if ACCESS_KEY in value]
    # A second run without --resume refuses to touch the archive; with it, does nothing.
    assert await run(server, out) == 2
    requests = server.objects.stats.requests
    assert await run(server, out, "--resume") == 0
    assert server.objects.stats.requests == requests
    check_archive(server, out)


async def test_a_failed_recording_is_listed_and_retried_by_resume(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    out = tmp_path / "archive"
    victim = sorted(expected(server))[0]
    index = server.recordings.index(victim)
    assert index is not None
    for _ in range(2):  # max-retries 1: two answers cut before any byte exhaust it
        server.objects.fail_next(server.recordings.media_key(index), "reset", after=0)
    assert await run(server, out, "--max-retries", "1") == 1
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["id"] for f in failures] == [victim]
    assert failures[0]["error"] == "MediaError"
    # One meaning of attempts: the requests sent to the object store, as the message says.
    assert failures[0]["attempts"] == 2
    assert "gave up after 2 requests to the object store" in failures[0]["message"]
    assert await run(server, out, "--resume") == 0
    check_archive(server, out)
    assert (out / "failures.jsonl").read_bytes() == b""


@pytest.mark.parametrize(
    "extra", [("--transcripts", "pdf"), ("--concurrency", "0"), ("--shards", "0")]
)
async def test_bad_options_are_refused_before_any_request(
    server: EmbeddedServer, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) if extra[0] == "--transcripts" else _no_raise():
        code = await run(server, tmp_path / "a", *extra)
        assert code == 2
    assert server.stats.requests == 0


class _no_raise:  # noqa: N801
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def _start(server: EmbeddedServer, out: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "asyncsdk", *argv(server, out, *extra)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY},
    )


def _manifest_lines(out: Path) -> int:
    try:
        return (out / "manifest.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def _parts(out: Path) -> list[str]:
    try:
        return [n for n in os.listdir(out) if n.endswith(".part")]
    except OSError:
        return []


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
async def test_killed_then_resumed_is_exactly_once(tmp_path: Path, how: signal.Signals) -> None:
    out = tmp_path / "archive"
    # 1.5 MB/s for 12 MB: the run takes seconds, long enough to be stopped mid-file.
    async with _server(bandwidth=1_500_000) as server:
        proc = await _start(server, out, "--concurrency", "3")
        try:
            await wait_until(
                lambda: _manifest_lines(out) >= 3 and bool(_parts(out)),
                within=60,
                what="some recordings archived and one in progress",
            )
        finally:
            proc.send_signal(how)
            _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        if how == signal.SIGINT:
            assert proc.returncode == 130, stderr
            assert b"run again with --resume" in stderr
        else:
            assert proc.returncode == -signal.SIGKILL
        partial = _parts(out)
        held = {name: (out / name).stat().st_size for name in partial}
        assert held, "no partial file left to resume"
        before = len(server.objects.requests)
        assert await run(server, out, "--resume", "--concurrency", "3") == 0
        check_archive(server, out)
        resumed = [
            r.headers["Range"] for r in server.objects.requests[before:] if "Range" in r.headers
        ]
        # Each partial file with bytes in it was resumed from its last byte, not refetched;
        # one stopped while being fsynced holds every byte and needs no request at all.
        for name, size in held.items():
            if 0 < size < RECORDING:
                assert f"bytes={size}-" in resumed, (name, size, resumed)


def test_the_demo_archives_recordings_through_faults(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--calls", "20", "--limit", "1000", "--latency", "0.001"]
    assert main([*argv, "--webhook-calls", "0", "--recordings", "20"]) == 0
    out = capsys.readouterr().out
    archived = next(line for line in out.splitlines() if line.startswith("files archived"))
    count, of, listed = archived.split()[2:5]
    assert of == "of" and int(count) == int(listed.rstrip(",")) > 0, archived
    assert f"{count} matching the server's SHA-256" in archived
    assert "0 requests with a credential" in out


def test_the_demo_counts_a_recording_missing_from_its_archive_as_a_failure() -> None:
    """The demo's check needs every recording with media, once, not just intact files."""
    expected = {"a", "b", "c"}
    assert archive_complete(["a", "c", "b"], expected, checked=3, credentialed=0)
    assert not archive_complete(["a", "b"], expected, checked=2, credentialed=0)
    assert not archive_complete(["a", "b", "b", "c"], expected, checked=4, credentialed=0)
    assert not archive_complete(["a", "b", "c"], expected, checked=2, credentialed=0)
    assert not archive_complete(["a", "b", "c"], expected, checked=3, credentialed=1)
    assert not archive_complete([], set(), checked=0, credentialed=0)


async def test_the_archive_command_serve_prints_works_as_printed(
    server: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``asyncsdk serve`` tells a new user how to archive its recordings, and which key."""
    from asyncsdk.server._cli import how_to_list

    text = how_to_list(server)
    assert ACCESS_KEY not in text  # a key the user chose is never printed
    (line,) = [line for line in text.splitlines() if "asyncsdk recordings" in line]
    words = shlex.split(line.split(":", 1)[1])
    assert words[:2] == ["asyncsdk", "recordings"]
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, [*words[1:], "--no-progress"]) == 0
    check_archive(server, tmp_path / "archive")
    async with EmbeddedServer(ServerConfig(recordings=RecordingsConfig())) as default:
        assert "BIRD_ACCESS_KEY=test-access-key" in how_to_list(default)
