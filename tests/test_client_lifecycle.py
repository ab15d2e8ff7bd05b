"""Client construction, settings, ownership of the session, and closing."""

from __future__ import annotations

import gc
import warnings

import aiohttp
import pytest

from asyncsdk import (
    DEFAULT_BASE_URL,
    Client,
    ClientClosedError,
    ConfigurationError,
    RateLimit,
    RetryPolicy,
    Timeout,
    TokenBucketLimiter,
)

from ._aioresponses_compat import MockAPI
from ._support import ACCESS_KEY, CALL, CALL_URL, CHANNEL, MOCK_BASE, WORKSPACE, fixture_bytes


def test_construction_outside_a_loop_opens_nothing() -> None:
    client = Client(access_key=ACCESS_KEY)
    assert client.base_url == DEFAULT_BASE_URL
    assert not client.closed
    del client
    gc.collect()  # no session was created, so no unclosed-session warning is possible


def test_repr_never_shows_the_credential() -> None:
    client = Client(access_key="very-secret-key")
    assert "very-secret-key" not in repr(client)
    assert "auth=AccessKey" in repr(client)
    assert "very-secret" not in repr(Client(bearer_token="very-secret-jwt"))


def test_credential_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", "from-env")
    monkeypatch.setenv("BIRD_BASE_URL", "https://eu.api.bird.test")
    client = Client()
    assert client.base_url == "https://eu.api.bird.test"
    assert "AccessKey" in repr(client)


def test_missing_credential_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIRD_ACCESS_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="BIRD_ACCESS_KEY"):
        Client()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": -1}, "finite number > 0"),
        ({"timeout": "10"}, "seconds or a Timeout"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"rate_limit": 0}, "RateLimit.rate"),
        ({"rate_limit": "fast"}, "requests per second"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
        ({"session": object()}, "aiohttp.ClientSession"),
        ({"base_url": "http://api.bird.com"}, "plain http"),
        ({"limiter": object()}, "must implement asyncsdk.RateLimiter"),
        ({"limiter": TokenBucketLimiter(1.0), "rate_limit": 5}, "not both"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Client(access_key=ACCESS_KEY, **kwargs)  # type: ignore[arg-type]


def test_settings_resolve_into_frozen_objects() -> None:
    client = Client(access_key=ACCESS_KEY, timeout=5, max_retries=1, rate_limit=20)
    assert client.timeout == Timeout(connect=5, read=5, total=5)
    assert client.retry_policy == RetryPolicy(max_retries=1)
    assert client.rate_limit == RateLimit(rate=20.0)
    policy = RetryPolicy(max_retries=7, max_backoff=2.0)
    assert Client(access_key=ACCESS_KEY, retry_policy=policy).retry_policy is policy
    with pytest.raises(AttributeError):
        client.timeout.total = 1  # type: ignore[misc]


async def test_context_manager_closes_its_own_session(mock_api: MockAPI) -> None:
    mock_api.get(CALL_URL, body=fixture_bytes("call_minimal.json"))
    async with Client(access_key=ACCESS_KEY, base_url=MOCK_BASE) as client:
        await client.get_call(WORKSPACE, CHANNEL, CALL)
        session = client._engine.session
        assert session is not None and not session.closed
    assert client.closed and session.closed


async def test_close_is_idempotent_and_use_after_close_is_refused() -> None:
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    await client.aclose()
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await client.get_call(WORKSPACE, CHANNEL, CALL)
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_lazy_open_then_aclose(mock_api: MockAPI) -> None:
    mock_api.get(CALL_URL, body=fixture_bytes("call_minimal.json"))
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    await client.get_call(WORKSPACE, CHANNEL, CALL)
    await client.aclose()
    assert client.closed


async def test_caller_session_is_used_and_left_open(mock_api: MockAPI) -> None:
    mock_api.get(CALL_URL, body=fixture_bytes("call_minimal.json"))
    async with aiohttp.ClientSession() as session:
        async with Client(access_key=ACCESS_KEY, base_url=MOCK_BASE, session=session) as client:
            await client.get_call(WORKSPACE, CHANNEL, CALL)
        assert client.closed and not session.closed


async def test_closed_caller_session_is_reported() -> None:
    session = aiohttp.ClientSession()
    await session.close()
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE, session=session)
    with pytest.raises(ClientClosedError, match="aiohttp session"):
        await client.get_call(WORKSPACE, CHANNEL, CALL)


async def test_forgotten_client_warns() -> None:
    client = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    async with client:
        pass
    client2 = Client(access_key=ACCESS_KEY, base_url=MOCK_BASE)
    session = client2._engine.open()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client2.__del__()
    assert any("Unclosed <asyncsdk.Client" in str(w.message) for w in caught)
    await session.close()
    await client2.aclose()
