"""Which failures stop a bulk run before anything succeeded (`asyncsdk._giveup`)."""

from __future__ import annotations

import errno
import os
import pickle
import socket

import aiohttp
import pytest

import asyncsdk
from asyncsdk._giveup import doubt_width, give_up_reason, stop_confirmed

from ._support import refused_port

W = "7d0b6d2e-2f1a-4f59-9c7e-7f1c2b1a0a01"
C = "0c7e3c58-8a1b-4c7f-9b7e-1b2a3c4d5e6f"
CALL = "3f2a9b1c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


async def test_connection_refused_is_hopeless() -> None:
    with refused_port() as port:
        async with asyncsdk.Client(
            access_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=0
        ) as client:
            with pytest.raises(asyncsdk.APIConnectionError) as info:
                await client.get_call(W, C, CALL)
    reason = give_up_reason(info.value)
    assert reason is not None
    assert "nothing answers" in reason


def test_tls_failures_are_worded_from_openssl_not_errno() -> None:
    """An SSLError's errno is OpenSSL's code: os.strerror(1) would say "Operation not permitted"."""
    import ssl

    from asyncsdk._tls import tls_reason

    not_tls = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    not_tls.reason = "WRONG_VERSION_NUMBER"
    assert tls_reason(not_tls) == (
        "the server did not answer in TLS (WRONG_VERSION_NUMBER): is it plain http?"
    )
    newer = ssl.SSLError(1, "[SSL] record layer failure")
    newer.reason = "RECORD_LAYER_FAILURE"
    assert "plain http" in (tls_reason(newer) or "")
    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    alert.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    assert tls_reason(alert) == "the handshake failed (TLSV1_ALERT_PROTOCOL_VERSION)"
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    assert tls_reason(cert) == "its certificate was refused (self-signed certificate)"
    assert tls_reason(ConnectionResetError(errno.ECONNRESET, "reset")) is None
    # A handshake cut short by the network may pass; a refused handshake will not.
    eof = asyncsdk.APIConnectionError("eof", method="GET", url="https://h/x")
    eof.__cause__ = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert give_up_reason(eof) is None
    refused = asyncsdk.APIConnectionError("tls", method="GET", url="https://h/x")
    refused.__cause__ = alert
    assert give_up_reason(refused) == (
        "TLS with h:443 failed: the handshake failed (TLSV1_ALERT_PROTOCOL_VERSION)"
    )


def test_a_refused_certificate_is_worded_from_the_error_aiohttp_wraps() -> None:
    """aiohttp's certificate error is an SSLCertVerificationError without verify_message."""
    import ssl
    from types import SimpleNamespace

    from asyncsdk._tls import tls_reason

    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    key = SimpleNamespace(host="h", port=443, is_ssl=True)
    wrapped = aiohttp.ClientConnectorCertificateError(key, verify)  # type: ignore[arg-type]
    error = asyncsdk.APIConnectionError("tls", method="GET", url="https://h/x")
    error.__cause__ = wrapped
    assert give_up_reason(error) == (
        "the TLS certificate of h:443 was refused (self-signed certificate)"
    )
    assert tls_reason(wrapped.os_error) == "its certificate was refused (self-signed certificate)"
    # One made in Python has neither verify_message nor reason: still words, no raise.
    assert tls_reason(ssl.SSLError()) == "the handshake failed (SSLError)"
    assert tls_reason(ssl.SSLCertVerificationError()) is not None


def test_a_tls_error_that_may_pass_does_not_stop_a_run() -> None:
    import ssl

    for reason in ("TLSV1_ALERT_INTERNAL_ERROR", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", None):
        cause = ssl.SSLError(1, f"[SSL: {reason}]")
        if reason is not None:
            cause.reason = reason
        error = asyncsdk.APIConnectionError("tls", method="GET", url="https://h/x")
        error.__cause__ = cause
        assert give_up_reason(error) is None, reason


def test_status_errors() -> None:
    def api(cls: type[asyncsdk.APIError], status: int) -> asyncsdk.APIError:
        return cls("x", method="GET", url="u", status=status)

    assert "401" in (give_up_reason(api(asyncsdk.AuthenticationError, 401)) or "")
    assert "403" in (give_up_reason(api(asyncsdk.PermissionDeniedError, 403)) or "")
    assert give_up_reason(api(asyncsdk.NotFoundError, 404)) is None
    assert give_up_reason(api(asyncsdk.ServerError, 503)) is None


def test_resets_timeouts_and_dns() -> None:
    reset = asyncsdk.APIConnectionError("reset", method="GET", url="u")
    reset.__cause__ = aiohttp.ServerDisconnectedError()
    assert give_up_reason(reset) is None
    timeout = asyncsdk.APITimeoutError("slow", method="GET", url="u")
    timeout.__cause__ = TimeoutError()
    assert give_up_reason(timeout) is None
    dns = asyncsdk.APIConnectionError("dns", method="GET", url="u")
    dns.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert "does not resolve" in (give_up_reason(dns) or "")


def test_run_stopped_error_pickles_and_says_why() -> None:
    cause = asyncsdk.APIConnectionError("refused", method="GET", url="u")
    err = asyncsdk.RunStoppedError("nothing answers", cause=cause)
    assert str(err) == "stopped: nothing answers"
    back = pickle.loads(pickle.dumps(err))
    assert back.reason == "nothing answers"
    assert isinstance(back.cause, asyncsdk.APIConnectionError)


def test_what_proves_access() -> None:
    from asyncsdk._giveup import proves_access

    def api(cls: type[asyncsdk.APIError], status: int) -> asyncsdk.APIError:
        return cls("x", method="GET", url="u", status=status)

    assert proves_access(None)  # a call fetched
    assert proves_access(api(asyncsdk.NotFoundError, 404))  # the API read it, key and all
    assert proves_access(api(asyncsdk.BadRequestError, 400))
    assert not proves_access(api(asyncsdk.AuthenticationError, 401))
    assert not proves_access(api(asyncsdk.PermissionDeniedError, 403))
    assert not proves_access(api(asyncsdk.RateLimitError, 429))
    assert not proves_access(api(asyncsdk.ServerError, 503))
    assert not proves_access(asyncsdk.APIConnectionError("refused", method="GET", url="u"))


def test_the_reason_names_the_address() -> None:
    refused = asyncsdk.APIConnectionError("refused", method="GET", url="http://127.0.0.1:9/x")
    refused.__cause__ = ConnectionRefusedError(
        errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)"
    )
    words = os.strerror(errno.ECONNREFUSED)
    assert give_up_reason(refused) == f"nothing answers at 127.0.0.1:9 ({words})"
    dns = asyncsdk.APIConnectionError("dns", method="GET", url="https://api.example.invalid/x")
    dns.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    reason = give_up_reason(dns) or ""
    assert "api.example.invalid:443 does not resolve" in reason


def test_a_run_in_doubt_stops_on_two_403s_or_any_other_refusal() -> None:
    assert not stop_confirmed(1, 1)  # one 403: maybe about that call alone
    assert stop_confirmed(2, 2)  # two IDs forbidden: the workspace
    assert stop_confirmed(1, 0)  # a 401 or a refused connection: every request
    assert stop_confirmed(2, 1)
    assert doubt_width(1, 1, held=1) == 1  # a lone 403 asks one more ID
    assert doubt_width(1, 1, held=2) == 0  # ... and a 5xx beside it proves nothing: release
    assert doubt_width(1, 0, held=1) == 0  # confirmed: no new ID, wait for those in flight
