"""What a failed TLS handshake means, in words a reader can act on.

An `ssl.SSLError` carries OpenSSL's error code as its errno, not the OS's: formatted
with ``os.strerror`` as an OS error would be, an ``https://`` address for a plain-http
server read "Operation not permitted". The transport words its connection errors with
this, and the bulk helpers' reason for stopping a run does too.

Imports: the standard library only.
"""

from __future__ import annotations

import ssl
from typing import Final

__all__ = ["NOT_TLS_REASONS", "certificate_reason", "tls_reason"]

#: OpenSSL's reasons when the other end does not speak TLS at all: an ``https://``
#: address for a plain-http server (OpenSSL 3.0 says the first, 3.2 and later the second).
NOT_TLS_REASONS: Final = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"})


def certificate_reason(error: ssl.SSLCertVerificationError) -> str:
    """Why a certificate was refused: OpenSSL's verify message, else the error itself.

    One made in Python, or aiohttp's wrapper of the real one, has no verify message.
    """
    return str(getattr(error, "verify_message", None) or error)


def tls_reason(error: BaseException) -> str | None:
    """Say why a TLS handshake failed, or None if ``error`` is not a TLS error.

    Args:
        error: The error under the failed connection.

    Returns:
        "its certificate was refused (...)", "the server did not answer in TLS (...): is
        it plain http?", "the handshake failed (REASON)", or None.
    """
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its certificate was refused ({certificate_reason(error)})"
    if not isinstance(error, ssl.SSLError):
        return None
    reason = getattr(error, "reason", None)  # OpenSSL sets it; one made in Python has none
    if reason in NOT_TLS_REASONS:
        return f"the server did not answer in TLS ({reason}): is it plain http?"
    return f"the handshake failed ({reason or type(error).__name__})"
