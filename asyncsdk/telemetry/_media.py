"""One media operation's telemetry: its INTERNAL span, the object store's CLIENT spans.

`MediaTrace` follows ``download_recording``, ``open_recording`` or ``get_transcript``
(`asyncsdk.resources.media`): the operation's INTERNAL span, started when the
operation starts and ended by `MediaTrace.close` (for a stream, when the stream ends),
and never made current for longer than one step in one coroutine, so that a stream
iterated by its caller leaves no context behind. It is the explicit parent of:

- the request to Bird's media endpoint (its 307), made through the engine with the
  operation's span current for the request alone (`MediaTrace.attached`): the engine's
  `CallTrace` gives it its CLIENT span, named from the URL template;
- each request to the object store (`asyncsdk._media.MediaTransfer` calls
  `MediaTrace.request`, `MediaTrace.answered`, `MediaTrace.broke`): a CLIENT span named
  ``GET`` (the presigned URL has no template), ``server.address`` the object store's
  host, ``url.full`` redacted (no signature or credential), a resume counted in
  ``http.request.resend_count``, ended when the response is closed (its body read, or
  given up).

Metrics, without IDs (by ``asyncsdk.operation`` alone): ``asyncsdk.media.bytes``, the
bytes received from the object store, and ``asyncsdk.media.resumes``, its requests after
the first; each object-store request also goes into ``http.client.request.duration``
under the store's ``server.address``.

Imports: opentelemetry (api), the standard library, and the telemetry's `_otel` and
`_semconv`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._otel import fail
from ._semconv import error_type, redact_url

if TYPE_CHECKING:
    from ._attempts import ClientHooks

__all__ = ["MediaTrace", "store_attributes"]

#: What ``AsyncExitStack.push`` calls when a response is closed.
ExitCallback = Callable[
    [type[BaseException] | None, BaseException | None, TracebackType | None], None
]


def store_attributes(url: str, resends: int) -> dict[str, Any]:
    """Return a CLIENT span's attributes for a GET of presigned ``url`` (no I/O).

    ``url.full`` is redacted (`redact_url`): the signature, credential and token of a
    presigned URL never reach an attribute. ``resends`` is the requests of the same
    transfer before this one.
    """
    parts = urlsplit(url)
    attrs: dict[str, Any] = {
        "http.request.method": "GET",
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        "url.full": redact_url(url),
    }
    if resends:
        attrs["http.request.resend_count"] = resends
    return attrs


class MediaTrace:
    """One media operation's spans and metrics (see the module).

    Args:
        hooks: The client's telemetry hooks.
        name: The operation (``download_recording``), the INTERNAL span's name.
        attributes: Its attributes (the IDs).
    """

    __slots__ = (
        "_broken",
        "_ctx",
        "_hooks",
        "_name",
        "_span",
        "_start",
        "_status",
        "_store",
        "closed",
        "received",
        "requests",
    )

    def __init__(self, hooks: ClientHooks, name: str, attributes: Mapping[str, Any]) -> None:
        self._hooks = hooks
        self._name = name
        instruments = hooks.instruments
        self._span = instruments.tracer.start_span(
            name, attributes=attributes, start_time=instruments.clock()
        )
        self._ctx = trace.set_span_in_context(self._span)
        self._store: trace.Span | None = None
        self._start = 0
        self._status: int | None = None
        self._broken: str | None = None
        self.closed = False
        #: bytes received from the object store, and its requests (``closed`` aside)
        self.received = 0
        self.requests = 0

    @contextmanager
    def attached(self) -> Iterator[None]:
        """Make the operation's span current for the block (one request to Bird)."""
        token = otel_context.attach(self._ctx)
        try:
            yield
        finally:
            otel_context.detach(token)

    def request(self, url: str) -> ExitCallback:
        """Start a request to the object store's ``url``: its CLIENT span.

        Returns the callback that ends the span when the response is closed (push it on
        the transfer's exit stack): with the exception that closed it, if any.
        """
        instruments = self._hooks.instruments
        self._start = start = instruments.clock()
        self._status = self._broken = None
        attrs = store_attributes(url, self.requests)
        self.requests += 1
        self._store = instruments.tracer.start_span(
            "GET", context=self._ctx, kind=SpanKind.CLIENT, attributes=attrs, start_time=start
        )
        metric = {k: attrs[k] for k in ("http.request.method", "server.address", "server.port")}

        def closed(
            _type: type[BaseException] | None,
            exc: BaseException | None,
            _tb: TracebackType | None,
        ) -> None:
            self._end(metric, exc)

        return closed

    def answered(self, status: int) -> None:
        """Note the object store's answer to the open request."""
        self._status = status
        if self._store is not None:
            self._store.set_attribute("http.response.status_code", status)

    def broke(self, exc: BaseException) -> None:
        """Mark the open request failed by ``exc`` (a broken body, a failed connect)."""
        self._broken = error_type(None, exc)

    def _end(self, metric: dict[str, Any], exc: BaseException | None) -> None:
        span, self._store = self._store, None
        if span is None:
            return
        instruments = self._hooks.instruments
        end = instruments.clock()
        status = self._status
        if status is not None:
            metric["http.response.status_code"] = status
        if isinstance(exc, GeneratorExit):  # the reader stopped early: not a failure
            exc = None
        kind = error_type(status, exc) or self._broken
        if kind is not None:
            metric["error.type"] = kind
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, kind))
        span.end(end_time=end)
        instruments.duration.record((end - self._start) / 1e9, metric)

    def close(self, exc: BaseException | None = None) -> None:
        """End the operation's span (failed by ``exc``), and count its bytes and resumes.

        Idempotent: the first call counts.
        """
        if self.closed:
            return
        self.closed = True
        instruments = self._hooks.instruments
        if exc is not None:
            fail(self._span, exc)
        self._span.end(end_time=instruments.clock())
        attrs = {"asyncsdk.operation": self._name}
        if self.received:
            instruments.media_bytes.add(self.received, attrs)
        if self.requests > 1:
            instruments.media_resumes.add(self.requests - 1, attrs)
