"""When a run of many requests should stop: failures that every later request would repeat.

A bulk run (``gather_calls``, ``iter_calls``, ``fetch``, ``export``, the webhook
enrichment) that has had no answer proving access yet and meets one of these failures
stops within seconds instead of spending the whole batch on it:

- the endpoint cannot be reached at all: the connection is refused, the host name does
  not resolve, its TLS certificate is refused, or its TLS handshake is refused for a
  reason every later handshake meets again (`HOPELESS_TLS`: an ``https://`` address for
  a plain-http server, no protocol or cipher in common);
- the API refuses the credential: 401, or 403 for the whole workspace.

Once an answer has proven access (``proves_access``: a call, or a 404 and the like),
the same failures are an outage or a revoked key in the middle of a run: the retry
rules (wait, probe, resume) handle those, as before.

A 403 may be about one call: the bulk helpers stop on 403s only when two IDs got one
(``stop_confirmed``; ``doubt_width`` says how far a run in doubt goes meanwhile).

No I/O, no state: pure functions of an error or of counts; the caller keeps the counts
and the "has an answer proven access yet" bit beside the mechanism that applies them.

Imports: stdlib, `asyncsdk.errors` and `asyncsdk._tls`.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import urllib.parse
from typing import Final

from ._tls import NOT_TLS_REASONS, certificate_reason, tls_reason
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BirdError,
    PermissionDeniedError,
)

__all__ = ["KEY_HINT", "doubt_width", "give_up_reason", "proves_access", "stop_confirmed"]

#: OpenSSL's reasons for a handshake that every later handshake with the same address
#: would meet: it does not speak TLS, or it and this client have no protocol version or
#: cipher in common, or it serves no certificate for the name. Any other TLS error (a
#: peer that closed mid-handshake, an internal-error alert from a balancer having a bad
#: moment, a record corrupted in flight) may pass, and is left to the retry rules.
HOPELESS_TLS: Final = NOT_TLS_REASONS | frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "NO_SHARED_CIPHER",
        "TLSV1_UNRECOGNIZED_NAME",
    }
)

#: ``errno`` values of a connection attempt that no later attempt would change soon.
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)


#: What a refused credential's reason tells the reader to check. The client takes its key
#: from ``access_key=`` or, without it, from ``BIRD_ACCESS_KEY``, and this reason does not
#: know which: a command that does know names its source instead (`asyncsdk.cli`).
KEY_HINT: Final = "check the access key (access_key=, else BIRD_ACCESS_KEY)"


def give_up_reason(error: BaseException) -> str | None:
    """Say, in one line, why every later request would fail like ``error``, or None.

    Args:
        error: The error that ended one request (after its retries).

    Returns:
        A one-line reason ("the API refused the credential (401)", "nothing listens
        at ...") when the failure is one that the rest of a run would repeat, and
        ``None`` when it is specific to this request or may pass.
    """
    if isinstance(error, AuthenticationError):
        return f"the API refused the credential (401 Unauthorized): {KEY_HINT}"
    if isinstance(error, PermissionDeniedError):
        return "the credential may not read this workspace (403 Forbidden)"
    if isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError):
        cause = _root_os_error(error)
        where = _address(error.url)
        if isinstance(cause, socket.gaierror):
            return f"the API host {where} does not resolve ({cause.strerror or cause})"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the TLS certificate of {where} was refused ({certificate_reason(cause)})"
        if isinstance(cause, ssl.SSLError) and getattr(cause, "reason", None) in HOPELESS_TLS:
            return f"TLS with {where} failed: {tls_reason(cause)}"
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS:
            return f"nothing answers at {where} ({os.strerror(cause.errno)})"
    return None


def _address(url: str) -> str:
    """``host:port`` of a request URL, for a reason line (the URL's path is noise there)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return "the API address"
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return f"{parts.hostname}:{port}" if port else parts.hostname


#: Statuses that an API may answer before it has read the credential or the request.
_BEFORE_ACCESS = frozenset({401, 403, 408, 429})


def proves_access(error: BaseException | None) -> bool:
    """Say whether an outcome shows that the API is reachable and takes the credential.

    A call fetched (``error`` is ``None``) does, and so does an answer about the request
    itself (404, 400, 409, 422: the API read it with the credential). A 5xx, a 429, a
    timeout or a connection failure does not; after an outcome that does, a bulk run no
    longer stops on `give_up_reason` (an outage or a revoked key mid-run is left to the
    retry rules).

    Args:
        error: The error that ended one request, or ``None`` if it succeeded.

    Returns:
        Whether the outcome proves access.
    """
    if error is None:
        return True
    return isinstance(error, APIError) and error.status < 500 and error.status not in _BEFORE_ACCESS


def stop_confirmed(suspects: int, forbidden: int) -> bool:
    """Say whether the hopeless failures a run holds so far stop it.

    A 403 may be about one call rather than the workspace, so a run stops on 403s only
    when two different IDs got one; any other hopeless failure (refused connection,
    unknown host, 401) is about every request.

    Args:
        suspects: Hopeless failures held since the run last had no doubt.
        forbidden: How many of them are 403s.

    Returns:
        Whether the run stops (once its requests in flight have ended without proof).
    """
    return suspects > forbidden or forbidden >= 2


def doubt_width(suspects: int, forbidden: int, *, held: int) -> int:
    """Say how many requests a run allows in flight while it holds hopeless failures.

    None once they stop the run (`stop_confirmed`). A lone 403 asks one more ID; if an
    outcome that is neither proof nor hopeless (a 5xx, a timeout) is held with it, the
    run cannot tell: the 403 is that ID's outcome and the run goes on, rather than
    going through the source one ID at a time with every result held back.

    Args:
        suspects: Hopeless failures held.
        forbidden: How many of them are 403s.
        held: Results held, hopeless or not.

    Returns:
        0 or 1: the run takes no new ID, or one more.
    """
    return 0 if stop_confirmed(suspects, forbidden) or held > suspects else 1


def _root_os_error(error: BirdError) -> BaseException | None:
    """Follow ``__cause__`` (and aiohttp's ``os_error``) down to the OS-level error."""
    seen: set[int] = set()
    current: BaseException | None = error.__cause__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # aiohttp's ClientConnectorError first: its certificate error is itself an
        # SSLCertVerificationError, without the verify_message of the one it wraps.
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, OSError) and os_error is not current:
            return os_error
        if isinstance(current, (socket.gaierror, ssl.SSLCertVerificationError)):
            return current
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None
