"""``python -m asyncsdk.server``: options, and a real subprocess serving until SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    Faults,
    add_server_arguments,
    config_from_args,
    dataset_from_args,
)
from asyncsdk.server.__main__ import main
from asyncsdk.server._cli import answers_text, how_to_list

REPO_ROOT = Path(__file__).resolve().parents[2]
ANNOUNCEMENT = re.compile(
    r"(?P<url>http://\S+) workspace=(?P<workspace>\S+) channel=(?P<channel>\S+) "
    r"calls=(?P<first>[0-9a-f-]{36}),(?P<second>[0-9a-f-]{36})"
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_match_the_config_defaults() -> None:
    args = _parse()
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    config = config_from_args(args)
    assert config.access_keys == ("test-access-key",)
    assert config.faults == Faults()
    assert dataset_from_args(args).size == 1000


def test_options_reach_the_config() -> None:
    args = _parse(
        *("--access-key", "a", "--access-key", "b", "--rate-limit", "5", "--burst", "2"),
        *("--latency", "0.1", "--seed", "3", "--size", "10", "--fault-500", "0.1"),
        *("--fault-502", "0.2", "--fault-503", "0.3", "--fault-429-burst", "0.4"),
        *("--fault-reset", "0.05", "--fault-truncate", "0.06", "--fault-slow", "0.07"),
    )
    config = config_from_args(args)
    assert config.access_keys == ("a", "b")
    assert (config.rate_limit, config.burst, config.latency, config.seed) == (5.0, 2, 0.1, 3)
    assert config.faults == Faults(
        error_500=0.1,
        error_502_html=0.2,
        error_503=0.3,
        burst_429=0.4,
        reset=0.05,
        truncate=0.06,
        slow=0.07,
    )
    assert dataset_from_args(args).size == 10


def test_listing_options_reach_the_config_and_the_dataset() -> None:
    args = _parse(
        *("--page-latency", "0.1", "--start", "2026-10-02T00:00:00Z"),
        *("--span-days", "1", "--busy-share", "0.9", "--size", "100"),
    )
    assert config_from_args(args).page_latency == 0.1
    dataset = dataset_from_args(args)
    assert dataset.timeline.start == dt.datetime(2026, 10, 2, tzinfo=dt.UTC)
    assert dataset.timeline.span == dt.timedelta(days=1)
    assert dataset.timeline.busy_share == 0.9
    with pytest.raises(SystemExit):
        _parse("--start", "2026-10-02T00:00:00")  # no time zone


async def test_the_announcement_says_how_to_get_call_ids() -> None:
    async with EmbeddedServer(dataset=Dataset(size=5)) as server:
        text = how_to_list(server)
    ws = str(server.dataset.workspace_id)
    assert f"/workspaces/{ws}/channels/calls" in text
    assert f"asyncsdk export {ws} --since 2026-01-01T00:00:00Z" in text
    assert "asyncsdk fetch" in text and "--ids calls.jsonl" in text


def test_policy_header_is_on_unless_turned_off() -> None:
    assert config_from_args(_parse("--rate-limit", "5")).policy_header is True
    assert (
        config_from_args(_parse("--rate-limit", "5", "--no-policy-header")).policy_header is False
    )


def test_out_of_range_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--fault-500", "2"])
    assert exited.value.code == 2
    assert "error_500 must be a probability" in capsys.readouterr().err


async def test_module_serves_until_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncsdk.server",
        "--port",
        "0",
        "--size",
        "20",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):  # a safety net for a broken build, not a measure
            line = (await process.stdout.readline()).decode()
        found = ANNOUNCEMENT.search(line)
        assert found, line
        url = (
            f"{found['url']}/workspaces/{found['workspace']}/channels/{found['channel']}"
            f"/calls/{found['second']}"
        )
        headers = {"Authorization": "AccessKey test-access-key"}
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["id"] == found["second"]
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_webhook_calls_beyond_the_default_size_grow_the_dataset() -> None:
    from asyncsdk.cli import build_parser

    args = build_parser().parse_args(["serve", "--webhook-calls", "1500"])
    assert dataset_from_args(args).size == 1500
    assert dataset_from_args(_parse()).size == 1000


def test_webhook_calls_beyond_an_explicit_size_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from asyncsdk.cli import main as cli_main

    argv = ["serve", "--port", "0", "--size", "1000", "--webhook-calls", "1500"]
    assert cli_main([*argv, "--webhook-url", "http://127.0.0.1:9/", "--signing-key", "k"]) == 2
    err = capsys.readouterr().err
    assert "--webhook-calls 1500" in err and "the most it can play is 1000" in err


def _documented_serve_lines() -> list[str]:
    """Every ``asyncsdk serve`` command line shown in the docs and the README."""
    lines = []
    for page in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("asyncsdk serve"):
                lines.append(line.split("#", 1)[0].rstrip(" &"))
    return lines


def test_every_documented_serve_line_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    from asyncsdk.cli import build_parser
    from asyncsdk.server import webhook_config_from_args

    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", "a-key")  # as docs/webhooks.md sets it
    lines = _documented_serve_lines()
    assert len(lines) >= 3
    for line in lines:
        words = [
            {"URL": "http://127.0.0.1:8090/", "KEY": "a-key"}.get(w, w)
            for w in shlex.split(line)[1:]
        ]
        args = build_parser().parse_args(words)
        config_from_args(args)
        dataset_from_args(args)
        webhook_config_from_args(args)


def test_the_documented_option_defaults_are_accepted() -> None:
    """The default column of docs/cli.md's serve table, passed as written."""
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `--start WHEN`"))
    start = row.split("|")[2].split(",")[0].strip().strip("`")
    args = _parse("--start", start)
    assert dataset_from_args(args).timeline.start == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_deliveries_with_no_answer_are_named_not_shown_as_status_0() -> None:
    """A listener started after ``serve`` shows as attempts with no answer, in words."""
    assert answers_text({200: 5}) == "{200: 5}"
    text = answers_text({0: 3, 200: 5, 503: 1})
    assert text.startswith("{200: 5, 503: 1}, 3 with no answer (connection refused")
    assert "{0:" not in text and "--webhook-url" in text
    assert answers_text({0: 720}).startswith("720 with no answer (")  # none answered: no {}
    assert answers_text({}) == "{}"
