"""Signature verification and event parsing, against Bird's test vector (no I/O)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import pickle
import uuid

import msgspec
import pytest

from asyncsdk import CallStatus, DecodeError
from asyncsdk.webhooks import (
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallEvent,
    CallEventName,
    InvalidEventError,
    InvalidSignatureError,
    MissingHeaderError,
    StaleTimestampError,
    WebhookError,
    compute_signature,
    parse_event,
    parse_timestamp,
    verify_signature,
)

from ._support import fixture_bytes

VECTOR = json.loads(fixture_bytes("webhook_signature_vector.json"))
BODY = fixture_bytes(VECTOR["bodyFile"])
KEY = VECTOR["signingKey"]
HEADERS = VECTOR["headers"]
URL = VECTOR["url"]
SIGNATURE = HEADERS[SIGNATURE_HEADER]
TIMESTAMP = HEADERS[TIMESTAMP_HEADER]
NOW = float(TIMESTAMP) + 10  # ten seconds after signing


def verify(**changes: object) -> None:
    args: dict[str, object] = {
        "signature": SIGNATURE,
        "timestamp": TIMESTAMP,
        "url": URL,
        "body": BODY,
        "now": NOW,
    }
    key = changes.pop("key", KEY)
    args.update(changes)
    verify_signature(key, **args)  # type: ignore[arg-type]


def test_the_fixture_body_is_exact() -> None:
    import hashlib

    assert not BODY.endswith(b"\n")
    assert hashlib.sha256(BODY).hexdigest() == VECTOR["bodySha256Hex"]


def test_the_vector_verifies() -> None:
    verify()
    assert compute_signature(KEY, timestamp=TIMESTAMP, url=URL, body=BODY) == SIGNATURE


def test_the_key_is_its_utf8_text_not_its_base64_decoding() -> None:
    verify(key=KEY.encode())
    with pytest.raises(InvalidSignatureError):
        verify(key=base64.b64decode(KEY))


@pytest.mark.parametrize(
    "change",
    [
        {"key": "KeV+/HGoIQrxuE5YPCRR6B=="},
        {"body": BODY.replace(b'"duration":187', b'"duration":188')},
        {"body": BODY + b" "},
        {"body": BODY[:-1]},
        {"url": URL.replace("tenant=7", "tenant=8")},
        {"url": URL.split("?")[0]},
        {"url": URL.replace("https://", "http://")},
        {"url": URL.replace("hooks.example.com", "hooks.example.org")},
        {"url": URL + "&x=1"},
        {"timestamp": str(int(TIMESTAMP) + 1), "now": NOW + 1},
        {"signature": base64.b64encode(b"\0" * 32).decode()},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_change_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(InvalidSignatureError) as info:
        verify(**change)
    assert KEY not in str(info.value)
    assert SIGNATURE not in str(info.value)


def test_one_flipped_byte_anywhere_in_the_body_is_refused() -> None:
    for position in range(0, len(BODY), 97):
        tampered = bytearray(BODY)
        tampered[position] ^= 0x01
        with pytest.raises(InvalidSignatureError):
            verify(body=bytes(tampered))


@pytest.mark.parametrize("signature", ["not base64!", "Zm9v", "=" * 44, "é" * 44, "A" * 400])
def test_a_signature_that_is_not_base64_of_32_bytes_is_invalid(signature: str) -> None:
    with pytest.raises(InvalidSignatureError):
        verify(signature=signature)


@pytest.mark.parametrize(
    ("name", "header"), [("signature", SIGNATURE_HEADER), ("timestamp", TIMESTAMP_HEADER)]
)
@pytest.mark.parametrize("value", [None, ""])
def test_missing_headers_are_named(name: str, header: str, value: str | None) -> None:
    with pytest.raises(MissingHeaderError) as info:
        verify(**{name: value})
    assert info.value.header == header
    assert header in str(info.value)


def test_old_and_future_timestamps_are_stale() -> None:
    with pytest.raises(StaleTimestampError) as old:
        verify(now=float(TIMESTAMP) + 301)
    assert old.value.skew == pytest.approx(301) and "old" in str(old.value)
    with pytest.raises(StaleTimestampError) as future:
        verify(now=float(TIMESTAMP) - 301)
    assert future.value.skew == pytest.approx(-301) and "future" in str(future.value)
    verify(now=float(TIMESTAMP) + 299)
    verify(now=float(TIMESTAMP) + 3600, tolerance=7200)
    verify(now=float(TIMESTAMP) + 10**9, tolerance=None)


@pytest.mark.parametrize("tolerance", [0, -1.0, float("nan"), float("inf"), True, "300"])
def test_a_tolerance_that_is_not_positive_finite_seconds_is_refused(tolerance: object) -> None:
    from asyncsdk import ConfigurationError

    with pytest.raises(ConfigurationError, match="tolerance"):
        verify(tolerance=tolerance)


def test_a_forged_delivery_is_invalid_before_it_is_stale() -> None:
    """The signature is checked first: a stale error always concerns a genuine delivery."""
    with pytest.raises(InvalidSignatureError):
        verify(body=b"{}", now=0.0)


def test_rfc3339_timestamps_verify() -> None:
    stamp = "2025-11-26T08:54:03Z"
    signature = compute_signature(KEY, timestamp=stamp, url=URL, body=BODY)
    when = dt.datetime(2025, 11, 26, 8, 54, 3, tzinfo=dt.UTC).timestamp()
    verify(signature=signature, timestamp=stamp, now=when + 5)
    with pytest.raises(StaleTimestampError):
        verify(signature=signature, timestamp=stamp, now=when + 3600)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1764147243", 1764147243.0),
        ("1764147243.25", 1764147243.25),
        ("2025-11-26T08:54:03Z", 1764147243.0),
        ("2025-11-26T09:54:03+01:00", 1764147243.0),
        ("2025-11-26T08:54:03.500000+00:00", 1764147243.5),
    ],
)
def test_parse_timestamp(text: str, seconds: float) -> None:
    assert parse_timestamp(text) == seconds


@pytest.mark.parametrize(
    "text", ["yesterday", "2025-11-26T08:54:03", "12e3", "-5", "nan", "", "1\u00b2", "17\udcff"]
)
def test_unreadable_timestamps_are_refused(text: str) -> None:
    with pytest.raises(StaleTimestampError) as info:
        parse_timestamp(text)
    assert info.value.skew is None


def raw_signature(key: str, timestamp: bytes, url: bytes, body: bytes) -> str:
    """Sign bytes as Bird does, without the code under test."""
    import hashlib
    import hmac

    message = timestamp + b"\n" + url + b"\n" + hashlib.sha256(body).digest()
    return base64.b64encode(hmac.digest(key.encode(), message, "sha256")).decode()


def test_headers_decoded_with_surrogateescape_verify_against_the_bytes_signed() -> None:
    """aiohttp and the ASGI servers hand a non-UTF-8 byte over as a lone surrogate."""
    url = b"https://hooks.example.com/bird/\xffvoice?tenant=7"
    signature = raw_signature(KEY, TIMESTAMP.encode(), url, BODY)
    verify(signature=signature, url=url.decode("utf-8", "surrogateescape"))
    with pytest.raises(InvalidSignatureError):
        verify(signature=signature, url=url.decode("latin-1"))  # other bytes, other text
    stamp = b"1764147243\xff"
    signature = raw_signature(KEY, stamp, URL.encode(), BODY)
    verify(signature=signature, timestamp=stamp.decode("utf-8", "surrogateescape"), tolerance=None)
    with pytest.raises(StaleTimestampError):  # genuine, but not a time
        verify(signature=signature, timestamp=stamp.decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("field", ["timestamp", "url", "signature"])
@pytest.mark.parametrize(
    "surrogate",
    [0xDCFF, 0xD800],
    ids=["a byte decoded with surrogateescape", "a surrogate no bytes decode to"],
)
def test_undecodable_input_is_an_invalid_signature_not_a_value_error(
    field: str, surrogate: int
) -> None:
    given = {"timestamp": TIMESTAMP, "url": URL, "signature": SIGNATURE[:-1]}[field]
    with pytest.raises(InvalidSignatureError):
        verify(**{field: given + chr(surrogate)})


def test_signing_text_no_bytes_decode_to_is_refused() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        compute_signature(KEY, timestamp=TIMESTAMP, url=URL + "\ud800", body=BODY)


def test_key_rotation_accepts_any_listed_key() -> None:
    verify(key=["old-key", KEY])
    verify(key=(KEY, "next-key"))
    with pytest.raises(InvalidSignatureError):
        verify(key=["old-key", "next-key"])


@pytest.mark.parametrize("key", ["", [], [""], [KEY, 5], 5])
def test_bad_keys_are_refused_without_echoing_them(key: object) -> None:
    with pytest.raises(ValueError, match=r"signing.key") as info:
        verify(key=key)
    assert KEY not in str(info.value)


def test_every_webhook_error_is_a_bird_error_and_pickles() -> None:
    from asyncsdk import BirdError

    errors: list[WebhookError] = [
        MissingHeaderError(SIGNATURE_HEADER),
        InvalidSignatureError("nope"),
        StaleTimestampError("old", skew=400.0),
    ]
    for error in errors:
        assert isinstance(error, BirdError)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
    assert pickle.loads(pickle.dumps(errors[2])).skew == 400.0


# --- parse_event ---


def test_parse_the_fixture() -> None:
    when = dt.datetime.fromtimestamp(float(TIMESTAMP), dt.UTC)
    event = parse_event(BODY, request_id=HEADERS[REQUEST_ID_HEADER], timestamp=when)
    assert isinstance(event, CallEvent)
    assert event.service == "channels"
    assert event.event == CallEventName.VOICE_OUTBOUND
    assert event.payload.id == uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
    assert event.payload.status == CallStatus.COMPLETED == event.status
    assert event.call_id == "5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41"
    assert event.payload.duration == 187
    assert event.request_id == HEADERS[REQUEST_ID_HEADER]
    assert event.timestamp == when


def test_unknown_events_fields_and_values_decode() -> None:
    body = msgspec.json.encode(
        {
            "service": "channels",
            "event": "voice.transferred",
            "deliveredBy": "edge-7",
            "payload": {"id": str(uuid.uuid4()), "status": "parked", "novel": {"a": 1}},
        }
    )
    event = parse_event(body)
    assert event.event == "voice.transferred"
    assert event.status == "parked"
    assert event.request_id is None and event.timestamp is None


def test_the_body_cannot_set_the_delivery_fields() -> None:
    body = msgspec.json.encode(
        {
            "service": "channels",
            "event": "voice.inbound",
            "request_id": "forged",
            "timestamp": "forged",
            "payload": {"id": str(uuid.uuid4())},
        }
    )
    event = parse_event(body, request_id="real")
    assert event.request_id == "real" and event.timestamp is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"not json", None),
        (b"", None),
        (b"[]", "$"),
        (b'{"service": "channels", "event": "voice.inbound"}', "$"),
        (b'{"service": "channels", "event": "voice.inbound", "payload": {}}', "$.payload"),
        (b'{"service": "channels", "event": 7, "payload": {"id": "x"}}', "$.event"),
        (
            b'{"service": "channels", "event": "voice.inbound", "payload": {"id": "nope"}}',
            "$.payload.id",
        ),
        (
            b'{"service":"channels","event":"voice.inbound",'
            b'"payload":{"id":"5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41","duration":"long"}}',
            "$.payload.duration",
        ),
    ],
)
def test_a_body_that_is_not_an_event_names_the_path(body: bytes, path: str | None) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(body)
    error = info.value
    assert isinstance(error, DecodeError) and isinstance(error, WebhookError)
    assert error.path == path
    assert error.body == body
    assert "[POST" not in str(error)


def test_check_signature_returns_the_timestamp_it_read_for_the_receiver() -> None:
    """The receiver dates the event from it, rather than reading the header twice."""
    from asyncsdk.webhooks._signature import check_signature, compute_signature

    url, body = "https://hooks.example.com/bird", b"{}"
    signature = compute_signature("k", timestamp="1764147243", url=url, body=body)
    given = {"signature": signature, "timestamp": "1764147243", "url": url, "body": body}
    assert check_signature((b"k",), **given, tolerance=60, now=1764147250) == 1764147243.0
    assert check_signature((b"k",), **given, tolerance=None, now=None) is None
