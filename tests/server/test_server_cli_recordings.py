"""The server's recordings options: each reaches `RecordingsConfig`, bad ones are refused."""

from __future__ import annotations

import argparse

import pytest

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    MediaFaults,
    RecordingsConfig,
    add_server_arguments,
    config_from_args,
)
from asyncsdk.server._argtypes import byte_size
from asyncsdk.server._cli import how_to_list


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    return parser.parse_args(argv)


def test_recordings_are_on_by_default_with_the_config_defaults() -> None:
    assert config_from_args(_parse()).recordings == RecordingsConfig()


def test_recordings_options_reach_the_config() -> None:
    args = _parse(
        "--recording-size",
        "200M",
        "--url-ttl",
        "60",
        "--store-port",
        "0",
        "--media-latency",
        "0.03",
        "--media-bandwidth",
        "10Mi",
        "--media-faults",
        "expired=0.1,reset=0.05,trickle=0.01,replace=0.02",
    )
    assert config_from_args(args).recordings == RecordingsConfig(
        size=200_000_000,
        url_ttl=60,
        latency=0.03,
        bandwidth=10 * 1024 * 1024,
        faults=MediaFaults(expired=0.1, reset=0.05, trickle=0.01, replace=0.02),
    )
    assert config_from_args(_parse("--no-recordings")).recordings is None
    mixed = config_from_args(_parse("--recording-size", "10M,1G")).recordings
    assert mixed == RecordingsConfig(sizes=(10_000_000, 1_000_000_000))


@pytest.mark.parametrize(
    "argv",
    [
        ("--media-faults", "lost=0.1"),
        ("--media-faults", "reset"),
        ("--media-faults", "reset=x"),
        ("--recording-size", "lots"),
    ],
)
def test_malformed_options_are_refused_by_argparse(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)


@pytest.mark.parametrize(
    "argv", [("--media-faults", "reset=1.5"), ("--url-ttl", "0"), ("--media-latency", "-1")]
)
def test_out_of_range_options_are_named(argv: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="recordings options"):
        config_from_args(_parse(*argv))


@pytest.mark.parametrize(
    ("text", "size"),
    [("1500", 1500), ("500K", 500_000), ("200MB", 200_000_000), ("1G", 10**9), ("64Ki", 65536)],
)
def test_byte_sizes(text: str, size: int) -> None:
    assert byte_size(text) == size


async def test_the_announcement_points_to_the_recordings() -> None:
    async with EmbeddedServer(dataset=Dataset(size=5)) as server:
        text = how_to_list(server)
        assert f"/workspaces/{server.dataset.workspace_id}/recordings" in text
        assert server.objects.base_url in text
