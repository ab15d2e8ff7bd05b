"""The recordings guide's examples, run against the embedded server (see test_examples)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from asyncsdk.server import EmbeddedServer

from .test_examples import (  # noqa: F401 - fixtures used by name
    call_ids,
    example_env,
    run_main,
    server,
)


@pytest.fixture
def media_env(
    server: EmbeddedServer,  # noqa: F811
    example_env: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> dict[str, str]:
    recordings = server.recordings
    available = [i for i in range(8) if recordings.available(i)][:3]
    missing = next(i for i in range(40) if not recordings.available(i))
    ids = [str(recordings.recording_id(i)) for i in [*available, missing]]
    transcribed = next(
        i for i in range(40) if recordings.transcribed(i) and recordings.available(i)
    )
    env = {
        "BIRD_RECORDING_IDS": " ".join(ids),
        "BIRD_TRANSCRIPTION_ID": str(recordings.transcription_id(transcribed)),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return {**example_env, **env}


async def test_recordings_archive(
    server: EmbeddedServer,  # noqa: F811
    media_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    out = await run_main("recordings_archive", capsys)
    *good, missing = media_env["BIRD_RECORDING_IDS"].split()
    for rid in good:
        index = server.recordings.index(rid)
        assert index is not None
        path = tmp_path / "recordings" / f"{rid}.mp3"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == server.objects.sha256(server.recordings.media_key(index))
        assert f"{rid}.mp3 {path.stat().st_size} bytes sha256={digest[:12]}" in out
    assert f"{missing}: NotFoundError" in out
    assert sorted(p.name for p in (tmp_path / "recordings").iterdir()) == sorted(
        f"{rid}.mp3" for rid in good
    )
    assert "X-Amz-Signature" not in out


async def test_recordings_stream(
    server: EmbeddedServer,  # noqa: F811
    media_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    rid = media_env["BIRD_RECORDING_IDS"].split()[0]
    key = server.recordings.media_key(server.recordings.index(rid) or 0)
    server.objects.fail_next(key, "reset")
    out = await run_main("recordings_stream", capsys)
    size = len(server.objects.content(key))
    assert f"{size} bytes of audio/mpeg in 1 part(s)" in out
    assert f"sha256={server.objects.sha256(key)[:12]} resumes=1" in out
    assert os.listdir(tmp_path) == []  # nothing touched the disk


async def test_recordings_transcripts(
    media_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = await run_main("recordings_transcripts", capsys)
    assert "first line: " in out
    assert "vtt cues: " in out and "vtt cues: 0" not in out
    assert "json: " in out and " bytes" in out
