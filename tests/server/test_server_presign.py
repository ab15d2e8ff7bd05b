"""The object store's pure rules: presigned URLs, ranges and ETag lists."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest

from asyncsdk.server import MediaFaults
from asyncsdk.server._presign import (
    ByteRange,
    body_faults,
    check_presigned,
    etag_matches,
    parse_range,
    presign_query,
    s3_error,
)

SECRET = b"k" * 32
SIGNED = dt.datetime(2026, 10, 2, 9, 0, tzinfo=dt.UTC)


def query(path: str = "/a/b.mp3", ttl: int = 600) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(presign_query(SECRET, path, SIGNED, ttl)))


def test_a_url_is_valid_until_its_expiry_included() -> None:
    q = query()
    assert q["X-Amz-Date"] == "20261002T090000Z" and q["X-Amz-Expires"] == "600"
    assert check_presigned(SECRET, "/a/b.mp3", q, SIGNED) == "ok"
    assert check_presigned(SECRET, "/a/b.mp3", q, SIGNED + dt.timedelta(seconds=600)) == "ok"
    late = SIGNED + dt.timedelta(seconds=601)
    assert check_presigned(SECRET, "/a/b.mp3", q, late) == "expired"


@pytest.mark.parametrize(
    "change",
    [
        {"X-Amz-Expires": "601"},
        {"X-Amz-Date": "20261002T090001Z"},
        {"X-Amz-Algorithm": "AWS4-HMAC-SHA1"},
        {"X-Amz-Signature": "00"},
    ],
)
def test_any_change_invalidates_the_signature(change: dict[str, str]) -> None:
    assert check_presigned(SECRET, "/a/b.mp3", {**query(), **change}, SIGNED) == "invalid"


def test_a_signature_is_bound_to_its_path_and_secret() -> None:
    assert check_presigned(SECRET, "/a/c.mp3", query(), SIGNED) == "invalid"
    assert check_presigned(b"other", "/a/b.mp3", query(), SIGNED) == "invalid"
    incomplete = {k: v for k, v in query().items() if k != "X-Amz-Date"}
    assert check_presigned(SECRET, "/a/b.mp3", incomplete, SIGNED) == "invalid"
    week = query(ttl=7 * 24 * 3600 + 1)
    assert check_presigned(SECRET, "/a/b.mp3", week, SIGNED) == "invalid"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, "ignore"),
        ("bytes=0-", 10, ByteRange(0, 10)),
        ("bytes=3-", 10, ByteRange(3, 10)),
        ("bytes=3-4", 10, ByteRange(3, 5)),
        ("bytes=3-99", 10, ByteRange(3, 10)),
        ("bytes=-4", 10, ByteRange(6, 10)),
        ("bytes=-40", 10, ByteRange(0, 10)),
        ("bytes=10-", 10, "unsatisfiable"),
        ("bytes=-0", 10, "unsatisfiable"),
        ("bytes=0-", 0, "unsatisfiable"),
        ("bytes=5-3", 10, "ignore"),
        ("bytes=-", 10, "ignore"),
        ("bytes=0-1, 4-5", 10, "ignore"),
        ("lines=0-1", 10, "ignore"),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_content_range_and_etag_lists() -> None:
    assert ByteRange(3, 10).content_range(10) == "bytes 3-9/10"
    assert etag_matches('"a", "b"', '"b"') and etag_matches("*", '"x"')
    assert not etag_matches('W/"b"', '"b"')


def test_s3_error_bodies_escape_what_they_quote() -> None:
    body = s3_error("NoSuchKey", "missing <key>", "/a&b", "RID", Key="a&b")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>')
    assert b"missing &lt;key&gt;" in body and b"<Key>a&amp;b</Key>" in body


def test_body_faults_are_drawn_or_queued() -> None:
    faults = MediaFaults(reset=0.5, replace=0.5, trickle=0.5)
    assert body_faults((0.9, 0.9, 0.9, 0.3), faults, None, 1000) == (None, False, False)
    assert body_faults((0.1, 0.9, 0.1, 0.3), faults, None, 1000) == (300, False, True)
    assert body_faults((0.9, 0.1, 0.9, 0.3), faults, None, 1000) == (300, True, False)
    assert body_faults((0.1, 0.1, 0.9, 0.3), faults, None, 1000) == (300, False, False)
    assert body_faults((0.1, 0.9, 0.9, 0.3), faults, None, 0) == (None, False, False)
    fixed = MediaFaults(reset=1.0, cut_after=5000)
    assert body_faults((0.0, 0.9, 0.9, 0.3), fixed, None, 1000) == (999, False, False)
    nothing = MediaFaults()
    assert body_faults((0.0,) * 4, nothing, ("reset", None), 1000) == (500, False, False)
    assert body_faults((0.0,) * 4, nothing, ("replace", 7), 1000) == (7, True, False)
    assert body_faults((0.0,) * 4, nothing, ("trickle", None), 1000) == (None, False, True)
