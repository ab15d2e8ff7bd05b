"""Validation of the server's config objects, and the token bucket on a fake clock."""

from __future__ import annotations

import dataclasses

import pytest

import asyncsdk.server
from asyncsdk.server import Faults, ScriptedResponse, ServerConfig
from asyncsdk.server._app import policy_header
from asyncsdk.server._limiter import TokenBucket


def test_exported_names_are_sorted_and_importable() -> None:
    names = asyncsdk.server.__all__
    assert list(names) == sorted(names)
    for name in ("Dataset", "EmbeddedServer", "Faults", "ScriptedResponse", "ServerConfig"):
        assert name in names
    assert all(hasattr(asyncsdk.server, name) for name in names)


def test_defaults() -> None:
    config = ServerConfig()
    assert config.access_keys == ("test-access-key",)
    assert config.bearer_tokens == ("test-jwt",)
    assert config.rate_limit is None
    assert config.policy_header is True
    assert config.faults == Faults()
    assert Faults().retry_after_429 == 1


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ServerConfig().seed = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Faults().reset = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("field", ["error_500", "error_502_html", "reset", "slow", "burst_429"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_fault_probabilities_are_checked(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field} must be a probability"):
        Faults(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_limit": 0.0}, "rate_limit"),
        ({"burst": 0}, "burst"),
        ({"latency": -1.0}, "latency"),
        ({"access_keys": "key"}, "access_keys"),
        ({"bearer_tokens": ("",)}, "bearer_tokens"),
        ({"seed": 1.5}, "seed"),
        ({"policy_header": "no"}, "policy_header"),
    ],
)
def test_server_config_is_checked(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_scripted_response_is_checked_and_its_headers_frozen() -> None:
    headers = {"Retry-After": "2"}
    script = ScriptedResponse(status=429, headers=headers)
    headers["Retry-After"] = "9"
    assert script.headers["Retry-After"] == "2"
    with pytest.raises(TypeError):
        script.headers["X"] = "y"  # type: ignore[index]
    with pytest.raises(ValueError, match="status"):
        ScriptedResponse(status=700)
    with pytest.raises(ValueError, match="action"):
        ScriptedResponse(action="explode")  # type: ignore[arg-type]


def test_bucket_spends_its_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    remaining = [bucket.acquire(100.0).remaining for _ in range(3)]
    assert remaining == [2, 1, 0]
    refused = bucket.acquire(100.0)
    assert not refused.allowed
    assert refused.reset == pytest.approx(0.5)
    assert refused.retry_after == 1


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    for _ in range(3):
        bucket.acquire(0.0)
    assert bucket.acquire(0.5).allowed  # one token after 0.5 s
    assert not bucket.acquire(0.5).allowed
    after_long_idle = [bucket.acquire(1000.0).allowed for _ in range(4)]
    assert after_long_idle == [True, True, True, False]


def test_bucket_retry_after_rounds_up() -> None:
    bucket = TokenBucket(rate=0.4, burst=1, now=0.0)
    assert bucket.acquire(0.0).allowed
    refused = bucket.acquire(0.0)
    assert refused.reset == pytest.approx(2.5)
    assert refused.retry_after == 3


@pytest.mark.parametrize(
    ("rate", "header"),
    [(200, "200;w=1"), (12.5, "12.5;w=1"), (0.001, "0.001;w=1"), (1e-7, "0.0000001;w=1")],
)
def test_policy_header_writes_the_rate_in_plain_decimal(rate: float, header: str) -> None:
    assert policy_header(rate) == header
