"""Every error the SDK raises, in one tree rooted at `BirdError`.

::

    BirdError
    ├── ConfigurationError        (also ValueError) bad client settings, raised at construction
    ├── InvalidIDError            (also ValueError) a path ID that is not a UUID; no request sent
    ├── ClientClosedError         (also RuntimeError) the client was used after aclose()
    ├── RunStoppedError           a bulk run stopped early: every later request would fail
    ├── DestinationError          (also OSError) a download's file cannot be written; names it
    ├── RequestError              anything that went wrong with one request; carries method + url
    │   ├── APIError              the API answered with an error status
    │   │   ├── BadRequestError            400
    │   │   ├── AuthenticationError        401
    │   │   ├── PermissionDeniedError      403
    │   │   ├── NotFoundError              404
    │   │   ├── ConflictError              409
    │   │   ├── UnprocessableEntityError   422
    │   │   ├── RateLimitError             429  (retry_after)
    │   │   └── ServerError                5xx
    │   ├── APIConnectionError    no usable response: refused, reset, cut off mid-body
    │   │   └── APITimeoutError   (also TimeoutError) connect, read or total time ran out
    │   ├── LimiterTimeoutError   (also TimeoutError) waited too long for the client's own
    │   │                         rate limiter (or would have): this attempt was not sent
    │   ├── ResponseTooLargeError the body was larger than the client's cap; not read
    │   ├── DecodeError           a 2xx body that is not a valid call or page; keeps the bytes
    │   └── MediaError            a recording's or transcript's media could not be read whole
    │       ├── RedirectError     Bird's media endpoint gave no usable 307 (scheme, host, Location)
    │       └── MediaChangedError the object changed between resumes and could not start again
    └── (nothing else: no aiohttp or asyncio exception escapes undressed)

`asyncio.CancelledError` is never wrapped: cancelling a task cancels it.

Every `RequestError` says which request failed (``method``, ``url`` — the URL never
holds credentials, they travel in a header) and, once retries are in play, how many
attempts were made. Messages fit on one log line.

One idea: the exception tree, drawn once above; every class in it is a few lines of
fields and a message, and one file is what lets every other module import it without
a cycle.

Imports: the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BirdError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "DecodeError",
    "DestinationError",
    "InvalidIDError",
    "LimiterTimeoutError",
    "MediaChangedError",
    "MediaError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "RequestError",
    "ResponseTooLargeError",
    "RunStoppedError",
    "ServerError",
    "UnprocessableEntityError",
]

#: How much of an error body `APIError.text` keeps, in characters.
ERROR_TEXT_LIMIT = 2048


class BirdError(Exception):
    """Root of every error this SDK raises."""


class ConfigurationError(BirdError, ValueError):
    """A client setting is invalid (empty credential, insecure ``base_url``, ...)."""


class InvalidIDError(BirdError, ValueError):
    """A path parameter is not a UUID; the request was not sent.

    Attributes:
        name: Which parameter (``"call_id"``, ``"channel_id"``, ``"workspace_id"``).
        value: The rejected value, as given.
    """

    def __init__(self, name: str, value: object) -> None:
        self.name = name
        self.value = value
        super().__init__(f"{name} must be a UUID, got {value!r}")

    def __reduce__(self) -> tuple[type[InvalidIDError], tuple[str, object]]:
        return (type(self), (self.name, self.value))


class ClientClosedError(BirdError, RuntimeError):
    """The client was used after `Client.aclose`; create a new client instead."""


class RunStoppedError(BirdError):
    """A run of many requests stopped early, before any answer proved access.

    Its first failures said that every later request would fail the same way: nothing
    answers at the API's address, its host does not resolve, or the API refused the
    credential (401; 403 for two different IDs). The IDs not tried were not tried: they
    are not failures, and a corrected run (or ``--resume``) takes them.

    Attributes:
        reason: One line saying why, fit for a log or a terminal.
        cause: The error that decided it.
        results: What the run had when it stopped. From `gather_calls`: the list aligned
            with its ``call_ids``, each item a `Call`, a `BirdError`, or ``None`` for an
            ID not tried. From `iter_calls`: the `CallResult` items complete but not
            consumed (the deciding one first among them by input position), as in
            `CallStream.leftovers`.
        not_tried: The IDs, as given, whose request was never sent or was cancelled
            before it was answered, in input order. An ID the run never read from its
            source is in neither: it is still in the source.
    """

    def __init__(
        self,
        reason: str,
        *,
        cause: BirdError,
        results: Sequence[Any] = (),
        not_tried: Sequence[object] = (),
    ) -> None:
        super().__init__(f"stopped: {reason}")
        self.reason = reason
        self.cause = cause
        self.results: list[Any] = list(results)
        self.not_tried: tuple[object, ...] = tuple(not_tried)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_stopped, (self.reason, self.cause, self.results, self.not_tried))


def _rebuild_stopped(
    reason: str, cause: BirdError, results: Sequence[Any] = (), not_tried: Sequence[object] = ()
) -> RunStoppedError:
    return RunStoppedError(reason, cause=cause, results=results, not_tried=not_tried)


class RequestError(BirdError):
    """A request was sent (or tried) and did not yield a call.

    Attributes:
        method: The HTTP method, ``"GET"``.
        url: The request URL. It never contains credentials.
        attempts: How many attempts were made before giving up (1 without retries).
    """

    def __init__(self, message: str, *, method: str, url: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.attempts = attempts

    def __str__(self) -> str:
        tail = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.message} [{self.method} {self.url}]{tail}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only constructors do not pickle by default; errors cross process
        # boundaries in worker pools, so keep them picklable.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[RequestError], state: dict[str, object]) -> RequestError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class APIError(RequestError):
    """The API answered with a status that is not a success.

    Attributes:
        status: The HTTP status code.
        body: The parsed JSON error body, or ``None`` when the body was not a JSON object.
        text: The raw body as text, cut to `ERROR_TEXT_LIMIT` characters.
        request_id: The server's request id header, when it sent one; quote it to support.
        retry_after: Seconds the server asked to wait (``Retry-After``), or ``None``.
        code: ``body["code"]`` when present (``"NotFound"``), else ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int,
        body: Mapping[str, object] | None = None,
        text: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, method=method, url=url, attempts=attempts)
        self.status = status
        self.retry_after = retry_after
        self.body = body
        self.text = text[:ERROR_TEXT_LIMIT]
        self.request_id = request_id

    @property
    def code(self) -> str | None:
        """The API's error code from the body, when it gave one."""
        code = self.body.get("code") if self.body is not None else None
        return code if isinstance(code, str) else None

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} request_id={self.request_id}" if self.request_id else base


class BadRequestError(APIError):
    """400: the API rejected the request as malformed."""


class AuthenticationError(APIError):
    """401: the credential is missing, wrong or expired."""


class PermissionDeniedError(APIError):
    """403: the credential is valid but may not read this call."""


class NotFoundError(APIError):
    """404: no such call in this workspace and channel."""


class ConflictError(APIError):
    """409: the resource is in a conflicting state."""


class UnprocessableEntityError(APIError):
    """422: the API could not process the request (for example a malformed ID)."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` says when the server will take more."""


class ServerError(APIError):
    """5xx: the API or a proxy in front of it failed; safe to retry later."""


class APIConnectionError(RequestError):
    """No usable response: the connection was refused, reset or cut off mid-body."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """A connect, read, total or deadline limit ran out before the response was complete."""


class LimiterTimeoutError(RequestError, TimeoutError):
    """The call's turn on the client's own rate limiter did not come in time; not sent.

    Raised when ``Timeout.limiter_wait`` or the call's ``Timeout.deadline`` runs out
    while the attempt waits for the limiter, and at once, without waiting, when the
    limiter already expects a longer wait than that (load shedding). Nothing about the
    API is known from it: the request never left this client. Not retried.

    Attributes:
        waited: Seconds this attempt waited before giving up (0 when refused at once).
        expected: The wait the limiter expected when the call was refused at once, in
            seconds; ``None`` when it waited and timed out.
        sent: Requests of this call that were sent before (earlier attempts).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        waited: float,
        expected: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, method=method, url=url, attempts=attempts)
        self.waited = waited
        self.expected = expected

    @property
    def sent(self) -> int:
        """Requests of this call that were sent: every attempt but this one."""
        return self.attempts - 1


class ResponseTooLargeError(RequestError):
    """The response body exceeded the client's ``max_response_bytes``; it was not read.

    Attributes:
        limit: The cap, in bytes.
        status: The HTTP status of the oversized response.
    """

    def __init__(
        self, message: str, *, method: str, url: str, limit: int, status: int, attempts: int = 1
    ) -> None:
        super().__init__(message, method=method, url=url, attempts=attempts)
        self.limit = limit
        self.status = status


class DecodeError(RequestError):
    """A success response whose body is not a valid call, or not a valid page of calls.

    A listing also raises it when a page breaks the newest-first order that sharded
    listings rely on (``path`` then names the call).

    Attributes:
        path: The JSON path that failed (``"$.duration"``), or ``None`` for invalid JSON.
        body: The raw response bytes, untouched, for logging or replay.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        path: str | None,
        body: bytes,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, method=method, url=url, attempts=attempts)
        self.path = path
        self.body = body


class MediaError(RequestError):
    """A recording's or transcript's media could not be read whole.

    Raised for what the object store answered that cannot be used (a status that is
    not retried, a ``206`` for another range than asked, a ``Content-Length`` that
    disagrees with the body or the range), and when the resumes allowed by
    `RetryPolicy` ran out. ``url`` is Bird's media endpoint; the object store's
    presigned URL appears only redacted, in the message.

    ``attempts`` counts the requests sent to the object store for this read, the first
    included; the requests to Bird's media endpoint for fresh URLs are not among them.
    The message says that count once when it is more than one ("gave up after 4
    requests to the object store: ...", or "... (after 2 requests to the object
    store)"), with no second "(after N attempts)".

    Attributes:
        received: Bytes of the object held when it failed (the offset reached).
        size: The object's size in bytes, when the object store said it.
        resumes: Requests made to the object store after the first one
            (``attempts - 1``).
        status: The object store's last HTTP status, if it answered.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        received: int = 0,
        size: int | None = None,
        resumes: int = 0,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, method=method, url=url, attempts=attempts)
        self.received = received
        self.size = size
        self.resumes = resumes
        self.status = status

    def __str__(self) -> str:
        # The message says the count itself, in requests to the object store ("gave up
        # after 4 requests ..."): the generic "(after N attempts)" would say it twice.
        return f"{self.message} [{self.method} {self.url}]"


class RedirectError(MediaError):
    """Bird's media endpoint gave no redirect the SDK may follow; nothing was fetched from it.

    The ``Location`` was missing or relative, named another scheme than ``https`` (or
    plain ``http`` to a non-loopback host), the endpoint answered ``200`` instead of a
    redirect, or the object store answered with a second redirect.
    """


class MediaChangedError(MediaError):
    """The object changed (another ETag) between two parts of one read; nothing was spliced.

    A download starts again from byte 0 instead; a stream (`Client.open_recording`)
    has already handed the earlier bytes on, so it raises this.
    """


class DestinationError(BirdError, OSError):
    """A download's destination cannot be written: the file is named, nothing is left behind.

    Raised before any request when the directory does not exist or is not writable,
    and during a download when writing fails (a full disk); the ``.part`` file is then
    removed. ``filename`` (of `OSError`) is the file concerned and ``errno`` the
    system's code, when there is one.
    """
