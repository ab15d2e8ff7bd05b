"""Redaction of presigned URLs: what may be shown of an object-store URL, without I/O.

A presigned URL is a credential for as long as it lives: whoever holds it may read the
object. Logs, errors, ``repr`` and stats show it through `redact_url`, which keeps the
scheme, host, path and the harmless query parameters (``X-Amz-Expires``,
``X-Amz-Date``) and replaces the value of every parameter that signs or names a key
(`SENSITIVE_PARAMETERS`, and any name containing ``signature``, ``credential``,
``token`` or ``key``) by ``REDACTED``; user information in the authority goes too.

Written by hand: `urllib.parse` splits the URL; no library redacts query parameters
by name, and yarl would re-encode the parts it keeps.

Imports: the standard library only.
"""

from __future__ import annotations

import urllib.parse
from typing import Final

__all__ = ["REDACTED", "SENSITIVE_PARAMETERS", "redact_url"]

#: What a secret value is replaced by.
REDACTED: Final = "REDACTED"
#: Query parameters (lower case) whose values are secrets in S3, GCS, Azure and CloudFront
#: presigned URLs.
SENSITIVE_PARAMETERS: Final = frozenset(
    (
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "signature",
        "sig",
        "awsaccesskeyid",
        "x-goog-signature",
        "x-goog-credential",
        "googleaccessid",
        "key-pair-id",
        "policy",
    )
)
_SENSITIVE_PARTS: Final = ("signature", "credential", "token", "key", "secret", "password")


def _is_sensitive(name: str) -> bool:
    lowered = urllib.parse.unquote_plus(name).lower()
    return lowered in SENSITIVE_PARAMETERS or any(part in lowered for part in _SENSITIVE_PARTS)


def redact_url(url: object) -> str:
    """Return ``url`` as text fit for a log: every secret query value and user info replaced.

    Args:
        url: A URL, as `str`, `yarl.URL` or anything whose `str` is a URL.

    Returns:
        The URL with the values of signing and key parameters replaced by `REDACTED`,
        and ``user:password@`` removed; a URL that cannot be parsed loses its whole
        query and fragment.
    """
    text = str(url)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return text.split("?", 1)[0].split("#", 1)[0] + ("?" + REDACTED if "?" in text else "")
    netloc = parts.netloc.rpartition("@")[2]
    pairs = []
    for pair in parts.query.split("&") if parts.query else ():
        name, eq, _value = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if _is_sensitive(name) else pair)
        if not eq and _is_sensitive(name):
            pairs[-1] = REDACTED
    fragment = REDACTED if parts.fragment else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "&".join(pairs), fragment))
