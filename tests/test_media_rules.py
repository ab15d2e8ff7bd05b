"""The media path's pure decisions: redaction, which redirect to follow, what answers mean."""

from __future__ import annotations

import pytest

from asyncsdk import MediaChangedError, MediaError, RedirectError
from asyncsdk._media._rules import (
    follow_location,
    judge,
    leaking_session_headers,
    media_error,
    parse_content_range,
    store_headers,
)
from asyncsdk.models import redact_url

ENDPOINT = "https://api.bird.test/workspaces/w/recordings/r.mp3"
SIGNED = (
    "https://bucket.s3.eu-west-1.amazonaws.com/rec/a.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAXYZ%2F20261002%2Feu-west-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20261002T091720Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FQoGZX&X-Amz-Signature=9f86d081884c7d659a2feaa0c55ad015"
)


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        (SIGNED, ["ASIAXYZ", "FQoGZX", "9f86d081884c7d659a2feaa0c55ad015"]),
        ("https://h/k?AWSAccessKeyId=AKIA1&Signature=abc%2B&Expires=1", ["AKIA1", "abc%2B"]),
        ("https://h/k?sv=2021&sig=s3cr3t&se=2026", ["s3cr3t"]),
        ("https://user:pass@h/k?token=t0k", ["user", "pass", "t0k"]),
    ],
)
def test_redact_url_removes_every_secret(url: str, secrets: list[str]) -> None:
    shown = redact_url(url)
    for secret in secrets:
        assert secret not in shown
    assert shown.startswith("https://")


def _follow(location: str | None, status: int = 307, allow_http: bool = False) -> str:
    headers = {} if location is None else {"Location": location}
    return str(follow_location(status, headers, endpoint=ENDPOINT, allow_http=allow_http))


def test_follow_location_takes_an_absolute_https_url() -> None:
    assert _follow(SIGNED) == SIGNED


def test_follow_location_takes_loopback_http_only_when_allowed() -> None:
    assert _follow("http://127.0.0.1:9000/k?x=1", allow_http=True).startswith("http://127.0.0.1")
    assert _follow("http://localhost:9000/k", allow_http=True).startswith("http://localhost")
    with pytest.raises(RedirectError, match="plain http"):
        _follow("http://127.0.0.1:9000/k")
    with pytest.raises(RedirectError, match="plain http to a non-loopback"):
        _follow("http://evil.example/k?X-Amz-Signature=abc", allow_http=True)


@pytest.mark.parametrize(
    ("location", "match"),
    [
        (None, "without a Location"),
        ("", "without a Location"),
        ("/relative/k.mp3", "not an absolute URL"),
        ("//host-only/k.mp3", "not an absolute URL"),
        ("ftp://files.example/k.mp3", "scheme 'ftp'"),
        ("file:///etc/passwd", "not an absolute URL"),
        ("javascript:alert(1)", "not an absolute URL"),
    ],
)
def test_follow_location_refuses(location: str | None, match: str) -> None:
    with pytest.raises(RedirectError, match=match) as info:
        _follow(location)
    assert info.value.url == ENDPOINT


def test_follow_location_never_shows_the_signature() -> None:
    with pytest.raises(RedirectError) as info:
        _follow("http://evil.example/k?X-Amz-Signature=abcdef123")
    assert "abcdef123" not in str(info.value)


def test_follow_location_refuses_statuses_that_are_not_redirects() -> None:
    with pytest.raises(RedirectError, match="not a redirect"):
        _follow(SIGNED, status=304)


def test_store_headers_hold_no_credential() -> None:
    assert store_headers(0, '"e"') == {"Accept": "*/*", "Accept-Encoding": "identity"}
    resumed = store_headers(10, '"e"')
    assert resumed["Range"] == "bytes=10-"
    assert resumed["If-Range"] == '"e"'
    assert not {name.lower() for name in resumed} & {"authorization", "user-agent"}


def test_leaking_session_headers_names_custom_defaults_only() -> None:
    assert leaking_session_headers({"User-Agent": "x", "Accept": "*/*"}, False) == []
    assert leaking_session_headers({"Authorization": "AccessKey k", "X-Team": "a"}, False) == [
        "Authorization",
        "X-Team",
    ]
    assert leaking_session_headers({}, True) == ["Authorization (session auth)"]


def test_parse_content_range() -> None:
    assert parse_content_range("bytes 10-99/100") == (10, 99, 100)
    assert parse_content_range("bytes 10-99/*") == (10, 99, None)
    for bad in (None, "", "bytes 10-9/100", "bytes 10-100/100", "items 1-2/3", "bytes=1-2/3"):
        assert parse_content_range(bad) is None


def test_judge_first_answer() -> None:
    verdict = judge(200, {"ETag": '"a"', "Content-Length": "100"}, offset=0, etag=None, size=None)
    assert (verdict.action, verdict.size, verdict.etag) == ("read", 100, '"a"')


def test_judge_a_resume() -> None:
    headers = {"ETag": '"a"', "Content-Range": "bytes 40-99/100", "Content-Length": "60"}
    assert judge(206, headers, offset=40, etag='"a"', size=100).action == "read"


@pytest.mark.parametrize(
    "content_range", ["bytes 41-99/100", "bytes 40-98/100", "bytes 40-119/120", "nonsense"]
)
def test_judge_a_206_for_another_range_fails(content_range: str) -> None:
    headers = {"ETag": '"a"', "Content-Range": content_range}
    verdict = judge(206, headers, offset=40, etag='"a"', size=100)
    assert verdict.action == "fail"


def test_judge_a_206_whose_length_disagrees_fails() -> None:
    headers = {"ETag": '"a"', "Content-Range": "bytes 40-99/100", "Content-Length": "59"}
    assert judge(206, headers, offset=40, etag='"a"', size=100).action == "fail"


def test_judge_a_206_nobody_asked_for_fails() -> None:
    headers = {"Content-Range": "bytes 0-99/100"}
    assert judge(206, headers, offset=0, etag=None, size=None).action == "fail"


def test_judge_a_whole_answer_to_a_range() -> None:
    same = judge(200, {"ETag": '"a"', "Content-Length": "100"}, offset=40, etag='"a"', size=100)
    assert same.action == "skip"  # the same version: read past what is held
    other = judge(200, {"ETag": '"b"', "Content-Length": "100"}, offset=40, etag='"a"', size=100)
    assert other.action == "restart"
    unknown = judge(200, {"Content-Length": "100"}, offset=40, etag='"a"', size=100)
    assert unknown.action == "restart"


def test_judge_another_etag_on_a_206_restarts() -> None:
    headers = {"ETag": '"b"', "Content-Range": "bytes 40-99/100"}
    assert judge(206, headers, offset=40, etag='"a"', size=100).action == "restart"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (403, "refresh"),
        (503, "refresh"),
        (500, "refresh"),
        (412, "restart"),
        (302, "fail"),
        (307, "fail"),
        (404, "fail"),
        (416, "fail"),
        (400, "fail"),
    ],
)
def test_judge_statuses(status: int, action: str) -> None:
    assert judge(status, {}, offset=0, etag=None, size=None).action == action


def test_a_media_error_states_its_count_once() -> None:
    gave_up = media_error(
        "gave up after 4 requests to the object store: the object store answered 503",
        endpoint=ENDPOINT,
        received=10,
        size=100,
        requests=4,
        status=503,
        counted=True,
    )
    text = str(gave_up)
    assert text == (
        "gave up after 4 requests to the object store: the object store answered 503 "
        f"[GET {ENDPOINT}]"
    )
    assert (gave_up.attempts, gave_up.resumes) == (4, 3)
    # A failure that does not count them itself gets the count once, in its own unit.
    changed = media_error(
        "the object changed",
        MediaChangedError,
        endpoint=ENDPOINT,
        received=10,
        size=100,
        requests=2,
        status=200,
    )
    assert str(changed) == (
        f"the object changed (after 2 requests to the object store) [GET {ENDPOINT}]"
    )
    assert "attempts" not in str(changed)
    first = media_error(
        "the object store answered 404",
        endpoint=ENDPOINT,
        received=0,
        size=None,
        requests=1,
        status=404,
    )
    assert str(first) == f"the object store answered 404 [GET {ENDPOINT}]"
    assert isinstance(first, MediaError) and "after" not in str(first)
