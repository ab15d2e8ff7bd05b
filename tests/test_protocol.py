"""The I/O-free protocol: IDs, URLs, credentials, Retry-After, and status -> error mapping."""

from __future__ import annotations

import email.utils
import uuid

import pytest

from asyncsdk import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    InvalidIDError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from asyncsdk import _protocol as p

from ._support import fixture_bytes

U = "5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41"
URL = "https://api.bird.test/x"


# --- IDs and the path ---


@pytest.mark.parametrize(
    "value",
    [U, U.upper(), uuid.UUID(U), "{" + U + "}", U.replace("-", ""), "urn:uuid:" + U],
)
def test_uuid_forms_are_canonicalised(value: object) -> None:
    assert p.canonical_id("call_id", value) == U


@pytest.mark.parametrize(
    "value",
    [
        "",
        "../admin",
        U + "/../x",
        U + "?x=1",
        U[:-2] + "%2F",
        "a/b",
        " " + U + "\n",
        "not-a-uuid",
        None,
        123,
        b"5f0c7a9e3b1d4c8e9a521d7e0b6f2a41",
    ],
)
def test_anything_else_is_rejected_before_a_request(value: object) -> None:
    with pytest.raises(InvalidIDError) as info:
        p.canonical_id("call_id", value)
    assert info.value.name == "call_id"
    assert "call_id must be a UUID" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_str_subclass_cannot_smuggle_text_into_the_path() -> None:
    class Sneaky(str):
        def __format__(self, spec: str) -> str:
            return "../../admin"

        def __str__(self) -> str:
            return "../../admin"

    sneaky = Sneaky(U)
    assert p.canonical_id("call_id", sneaky) == U
    assert type(p.canonical_id("call_id", sneaky)) is str
    assert "admin" not in p.call_path(sneaky, sneaky, sneaky)


def test_call_path_names_the_bad_parameter() -> None:
    assert p.call_path(U, U, U) == f"/workspaces/{U}/channels/{U}/calls/{U}"
    with pytest.raises(InvalidIDError, match="channel_id"):
        p.call_path(U, "../../x", U)


# --- credentials and base URL ---


def test_authorization_schemes() -> None:
    assert p.authorization("k3y", None) == "AccessKey k3y"
    assert p.authorization(None, "jwt.a.b") == "Bearer jwt.a.b"


@pytest.mark.parametrize(
    ("key", "token", "match"),
    [
        (None, None, "exactly one credential"),
        ("k-secret-1", "t-secret-2", "exactly one credential"),
        ("", None, "access_key is empty"),
        ("   ", None, "access_key is empty"),
        (None, "", "bearer_token is empty"),
        ("sec ret", None, "whitespace"),
        ("secret\r\nX-Evil: 1", None, "whitespace"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_them(
    key: str | None, token: str | None, match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        p.authorization(key, token)
    for secret in (key, token):
        if secret and secret.strip():
            assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.bird.com", "https://api.bird.com"),
        ("https://api.bird.com/", "https://api.bird.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:1234/", "http://localhost:1234"),
        ("http://[::1]:80", "http://[::1]:80"),
        ("https://proxy.internal/bird", "https://proxy.internal/bird"),
    ],
)
def test_base_url_accepted(url: str, expected: str) -> None:
    assert p.base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://api.bird.com", "plain http"),
        ("http://10.0.0.5", "plain http"),
        ("ftp://api.bird.com", "must look like"),
        ("api.bird.com", "must look like"),
        ("https://user:pw@api.bird.com", "credentials"),
        ("https://api.bird.com?x=1", "query"),
        ("https://api.bird.com:99999", "not a valid URL"),
    ],
)
def test_base_url_refused(url: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        p.base_url(url)


def test_plain_http_with_explicit_opt_in() -> None:
    assert p.base_url("http://bird.internal", allow_insecure_http=True) == "http://bird.internal"


# --- Retry-After ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (" 7 ", 7.0),
        ("-3", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert p.parse_retry_after(value, now=0.0) == expected


def test_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert p.parse_retry_after(header, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert p.parse_retry_after(past, now=now) == 0.0


# --- status -> error ---


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, APIError),
        (302, APIError),
    ],
)
def test_every_status_family_maps_to_one_class(status: int, cls: type[APIError]) -> None:
    assert p.error_class(status) is cls
    err = p.api_error(status, {}, b"", url=URL)
    assert type(err) is cls
    assert err.status == status and err.url == URL and err.method == "GET"


def test_json_error_body_is_parsed_and_kept() -> None:
    body = fixture_bytes("error_422.json")
    err = p.api_error(422, {"X-Request-Id": "req-1"}, body, url=URL, reason="Unprocessable Entity")
    assert isinstance(err, UnprocessableEntityError)
    assert err.body is not None and err.body["details"] == {"callId": ["must be a valid UUID"]}
    assert err.code == "InvalidParameter"
    assert err.text == body.decode()
    assert err.request_id == "req-1"
    assert str(err) == (
        f"422 Unprocessable Entity: callId must be a UUID [GET {URL}] request_id=req-1"
    )


def test_html_error_body_is_kept_as_text() -> None:
    body = fixture_bytes("error_502.html")
    err = p.api_error(502, {"Content-Type": "text/html"}, body, url=URL, reason="Bad Gateway")
    assert isinstance(err, ServerError)
    assert err.body is None and err.code is None
    assert "502 Bad Gateway" in err.text
    assert str(err).startswith("502 Bad Gateway [GET")


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"str"', b"\xff\xfe", b""])
def test_unparseable_error_bodies_do_not_raise(body: bytes) -> None:
    err = p.api_error(500, {}, body, url=URL)
    assert isinstance(err, ServerError) and err.body is None


def test_error_text_is_capped() -> None:
    err = p.api_error(500, {}, b"x" * 100_000, url=URL)
    assert len(err.text) == 2048


def test_rate_limit_error_carries_retry_after() -> None:
    err = p.api_error(429, {"Retry-After": "3"}, fixture_bytes("error_429.json"), url=URL)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 3.0 and err.code == "TooManyRequests"
    assert p.api_error(503, {"Retry-After": "2"}, b"", url=URL).retry_after == 2.0


def test_redirect_is_reported_not_followed() -> None:
    err = p.api_error(302, {"Location": "https://evil.example/"}, b"", url=URL, reason="Found")
    assert "unexpected redirect 302 Found" in str(err) and "evil.example" in str(err)


# --- decoding success bodies ---


def test_decode_error_names_the_path_and_keeps_the_bytes() -> None:
    body = fixture_bytes("call_wrong_type.json")
    with pytest.raises(DecodeError) as info:
        p.decode_call(body, url=URL)
    assert info.value.path == "$.duration"
    assert info.value.body == body
    assert "$.duration" in str(info.value) and URL in str(info.value)


@pytest.mark.parametrize("body", [b"", b"{", b"<html>oops</html>", b"null", b"[]"])
def test_invalid_success_bodies_raise_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        p.decode_call(body, url=URL)
    assert info.value.body == body


def test_errors_pickle_with_their_context() -> None:
    import pickle

    err = p.api_error(404, {"X-Request-Id": "r"}, fixture_bytes("error_404.json"), url=URL)
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is NotFoundError
    assert (clone.status, clone.url, clone.request_id, clone.code) == (404, URL, "r", "NotFound")
    assert str(clone) == str(err)
    bad = pickle.loads(pickle.dumps(InvalidIDError("call_id", "x")))
    assert (bad.name, bad.value) == ("call_id", "x")


# --- the list endpoints ---


def test_list_paths_validate_their_ids() -> None:
    assert p.channel_calls_path(U, U.upper()) == f"/workspaces/{U}/channels/{U}/calls"
    assert p.call_log_path(uuid.UUID(U)) == f"/workspaces/{U}/channels/calls"
    with pytest.raises(InvalidIDError, match="workspace_id"):
        p.call_log_path("../admin")
    with pytest.raises(InvalidIDError, match="channel_id"):
        p.channel_calls_path(U, "calls")


def test_decode_page_names_the_failing_path() -> None:
    body = b'{"results": [{"id": "' + U.encode() + b'", "duration": "long"}]}'
    with pytest.raises(DecodeError) as caught:
        p.decode_page(body, url=URL)
    assert caught.value.path == "$.results[0].duration"
    assert caught.value.body == body
    assert "not a valid page of calls" in str(caught.value)
    with pytest.raises(DecodeError, match="not valid JSON") as invalid:
        p.decode_page(b"<html>", url=URL)
    assert invalid.value.path is None


def test_decode_page_reads_the_fixtures() -> None:
    page = p.decode_page(fixture_bytes("calls_page.json"), url=URL)
    assert len(page.results) == 2
