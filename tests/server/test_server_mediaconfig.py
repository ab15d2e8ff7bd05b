"""`RecordingsConfig` and `MediaFaults` refuse what they cannot serve, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from asyncsdk.server import Dataset, MediaFaults, RecordingsConfig, RecordingSet, ServerConfig


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"size": -1}, "size"),
        ({"size": 1 << 40}, "size"),
        ({"sizes": (10, -1)}, "sizes"),
        ({"sizes": "10"}, "sizes"),
        ({"bytes_per_second": 0}, "bytes_per_second"),
        ({"transcribed_every": 0}, "transcribed_every"),
        ({"unavailable_every": 1}, "unavailable_every"),
        ({"metadata_redirect": "sometimes"}, "metadata_redirect"),
        ({"ended_call_recordings": "gone"}, "ended_call_recordings"),
        ({"url_ttl": 0}, "url_ttl"),
        ({"latency": float("nan")}, "latency"),
        ({"bandwidth": 0}, "bandwidth"),
        ({"faults": {"reset": 0.1}}, "faults"),
        ({"store_port": -1}, "store_port"),
    ],
)
def test_recordings_config_refuses(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RecordingsConfig(**fields)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"expired": 1.5}, "expired"),
        ({"reset": -0.1}, "reset"),
        ({"trickle": True}, "trickle"),
        ({"replace": "x"}, "replace"),
        ({"cut_after": -1}, "cut_after"),
        ({"trickle_rate": 0}, "trickle_rate"),
    ],
)
def test_media_faults_refuse(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MediaFaults(**fields)


def test_server_config_takes_recordings_or_none() -> None:
    assert ServerConfig().recordings == RecordingsConfig()
    assert ServerConfig(recordings=None).recordings is None
    with pytest.raises(ValueError, match="recordings"):
        ServerConfig(recordings="on")  # type: ignore[arg-type]


def test_sizes_are_cycled_over_the_recordings() -> None:
    recordings = RecordingSet(Dataset(6), RecordingsConfig(size=5, sizes=(10, 20, 30)))
    assert [recordings.size(i) for i in range(6)] == [10, 20, 30, 10, 20, 30]
    assert RecordingSet(Dataset(2), RecordingsConfig(size=5)).size(1) == 5
