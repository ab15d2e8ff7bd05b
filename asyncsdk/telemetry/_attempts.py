"""The hooks the engine calls: one client's (`ClientHooks`), one call's (`CallTrace`).

`ClientHooks` binds a `Telemetry`'s instruments to one client (its server address, the
gauges it feeds); `CallTrace` follows one API call through its attempts. The engine
calls them at few points, and only when telemetry is on (``Engine.telemetry`` is not
``None``):

- per attempt: `CallTrace.before_wait` / `CallTrace.after_wait` around the limiter's
  ``acquire`` (a child span for a wait that took time, and the wait histogram), then
  `CallTrace.begin` / `CallTrace.end` around the wire request: the CLIENT span;
- per retry: `CallTrace.retry_wait`, a context manager around the retrier's sleep;
- per API call: `ClientHooks.call` opens the operation's INTERNAL span (``get_call``,
  a listing's page: named from the URL template, with the IDs the path holds), the
  explicit parent of the call's attempt and wait spans (not attached as the current
  context: one attach per attempt is enough), ended by `CallTrace.close`; the
  resources need no decorator, and cost nothing with telemetry off.

Another GET (a recording's media, with its redirect) gets its CLIENT span the same way:
``trace = engine.telemetry.call(url)`` once per operation (when ``engine.telemetry`` is
not ``None``), then for each wire request ``trace.begin()`` right before it is sent and
``trace.end(status, headers, exc)`` once its body is read or it failed, in the same
coroutine; a redirect's second request is a resend (``http.request.resend_count``), and
a URL outside the API root (a presigned one) is named ``GET`` with its signature
redacted in ``url.full``. Its INTERNAL span: `CallTrace` opens one for each URL
template `asyncsdk.telemetry._semconv.operation_of` knows (add the endpoint's template
and name to ``_OPERATIONS``, one line) and ``trace.close(exc, result)`` ends it; or
wrap the method in `asyncsdk.telemetry.operation`.

While an attempt is on the wire its context carries OpenTelemetry's
``suppress_http_instrumentation`` key, as the Azure SDK does: the aiohttp client
instrumentation, if installed, makes no second span for it.

Imports: opentelemetry (api), the standard library, and the telemetry's `_otel`,
`_semconv` and `_media`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from ._media import MediaTrace
from ._otel import Instruments, fail
from ._semconv import (
    WAIT_OUTAGE,
    WAIT_PROBE,
    WAIT_QUOTA_PAUSE,
    WAIT_RATE,
    error_type,
    operation_of,
    redact_url,
    url_template,
)

__all__ = ["CallTrace", "ClientHooks", "limiter_wait_cause"]

#: Waits shorter than this many nanoseconds get no span (the histogram has them all): an
#: uncontended acquire takes microseconds, a wait worth seeing in a trace milliseconds.
_NO_WAIT_NS: Final = 1_000_000
#: Waits shorter than this many nanoseconds are not recorded at all: an acquire that
#: did not wait (the attempts are counted by ``http.client.request.duration``).
_NO_HISTOGRAM_NS: Final = 10_000
#: Attempts whose answers feed the throttled-share gauge.
_SHARE_WINDOW: Final = 100
_REQUEST_ID: Final = "http.response.header.x-request-id"
#: What `TokenBucketLimiter.holding` says, as a wait cause.
_HOLDING: Final = {"pause": WAIT_QUOTA_PAUSE, "outage": WAIT_OUTAGE, "probe": WAIT_PROBE}


def limiter_wait_cause(limiter: object, now: float) -> str:
    """Name why an attempt arriving at loop time ``now`` would wait in ``limiter``.

    Read from the limiter's ``holding(now)`` when it has one (`TokenBucketLimiter`);
    any other limiter's wait is its pace.
    """
    holding = getattr(limiter, "holding", None)
    why = holding(now) if holding is not None else None
    return WAIT_RATE if why is None else _HOLDING.get(why, WAIT_RATE)


class ClientHooks:
    """One client's telemetry: what the engine calls (module docstring).

    Attributes:
        instruments: The `Instruments` it records with.
        gauge_attributes: The attributes of its gauges (none: no IDs in metrics).
    """

    def __init__(
        self,
        instruments: Instruments,
        base_url: str,
        base_path: str,
        limiter: Callable[[], object],
        budget: Callable[[], int],
    ) -> None:
        self.instruments = instruments
        parts = urlsplit(base_url)
        self.server_address = parts.hostname or ""
        self.server_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = base_path
        self.base_url = base_url + "/"
        self._limiter = limiter
        self._budget = budget
        self._answers: deque[bool] = deque(maxlen=_SHARE_WINDOW)
        self.in_flight = 0
        self._throttled = 0
        self.gauge_attributes: dict[str, str] = {}
        self._metric_base: dict[str, Any] = {
            "http.request.method": "GET",
            "server.address": self.server_address,
            "server.port": self.server_port,
        }

    def call(self, url: object) -> CallTrace:
        """Start following one API call to ``url`` (a `yarl.URL` or a string)."""
        return CallTrace(self, url)

    def gauge(self, what: str) -> float | None:
        """The current value of one of the client's gauges."""
        if what == "budget":
            return self._budget()
        if what == "active":
            return self.in_flight
        if what == "share":
            answers = self._answers
            return self._throttled / len(answers) if answers else None
        limiter = self._limiter()
        if what == "rate":
            rate = getattr(limiter, "rate", None)
            return float(rate) if isinstance(rate, int | float) else None
        limit = getattr(limiter, "limit_estimate", None)
        return float(limit) if isinstance(limit, int | float) else None

    def count_items(self, operation: str, done: int, failed: int) -> None:
        """Count the items an operation resolved (``asyncsdk.items``), by outcome."""
        items = self.instruments.items
        if done:
            items.add(done, {"asyncsdk.operation": operation, "asyncsdk.outcome": "done"})
        if failed:
            items.add(failed, {"asyncsdk.operation": operation, "asyncsdk.outcome": "failed"})

    def answered(self, throttled: bool) -> None:
        """Count an answer in the throttled-share window."""
        answers = self._answers
        if len(answers) == answers.maxlen and answers[0]:
            self._throttled -= 1
        answers.append(throttled)
        self._throttled += throttled

    def operation(
        self, name: str, attributes: Mapping[str, Any], links: list[Link] | None = None
    ) -> Any:
        """An INTERNAL span around one SDK operation, current while it runs."""
        return self.instruments.span(name, attributes, links=links)

    def media(self, name: str, attributes: Mapping[str, Any]) -> MediaTrace:
        """Start following a media operation (`asyncsdk.telemetry._media.MediaTrace`)."""
        return MediaTrace(self, name, attributes)


class CallTrace:
    """One API call's attempts: their waits, CLIENT spans and metrics (module docstring)."""

    __slots__ = (
        "_attrs",
        "_cause",
        "_ctx",
        "_hooks",
        "_operation",
        "_span",
        "_start",
        "_token",
        "_waited",
        "attempts",
        "template",
    )

    def __init__(self, hooks: ClientHooks, url: object) -> None:
        self._hooks = hooks
        text = str(url)
        path = getattr(url, "raw_path", None)
        if not isinstance(path, str):
            path = None
        self.template = url_template(path, hooks.base_path) if path else None
        self.attempts = 0
        self._attrs: dict[str, Any] = {
            "http.request.method": "GET",
            "server.address": hooks.server_address,
            "server.port": hooks.server_port,
            # The API's own URLs are built from validated parts: only a query may need it.
            "url.full": redact_url(text)
            if "?" in text or not text.startswith(hooks.base_url)
            else text,
        }
        if self.template is not None:
            self._attrs["url.template"] = self.template
        self._span: trace.Span | None = None
        self._token: object = None
        self._start = 0
        self._waited = 0
        self._cause = WAIT_RATE
        self._operation: tuple[str, trace.Span] | None = None
        # The parent of the attempts and waits: the operation's span, else the caller's.
        self._ctx: otel_context.Context | None = None
        known = operation_of(path, self.template, hooks.base_path) if path else None
        if known is not None:
            instruments = hooks.instruments
            span = instruments.tracer.start_span(
                known[0], attributes=known[1], start_time=instruments.clock()
            )
            self._ctx = trace.set_span_in_context(span)
            self._operation = (known[0], span)

    def close(self, exc: BaseException | None = None, result: object = None) -> None:
        """End the operation's INTERNAL span (with ``exc``), count a page's calls."""
        operation = self._operation
        if operation is None:
            return
        self._operation = None
        name, span = operation
        if exc is not None:
            fail(span, exc)
        span.end(end_time=self._hooks.instruments.clock())
        if name.endswith(".page"):
            if exc is None:
                self._hooks.count_items(name, len(getattr(result, "results", ())), 0)
            elif isinstance(exc, Exception):
                self._hooks.count_items(name, 0, 1)

    def before_wait(self, limiter: object) -> None:
        """Note why and when the attempt starts waiting for ``limiter``."""
        self._cause = limiter_wait_cause(limiter, asyncio.get_running_loop().time())
        self._waited = self._hooks.instruments.clock()

    def after_wait(self, exc: BaseException | None = None) -> None:
        """Record the wait just ended (a span if it took time), or how it failed."""
        instruments = self._hooks.instruments
        start, end = self._waited, instruments.clock()
        cause = self._cause
        if end - start < _NO_WAIT_NS and exc is None:
            if end - start >= _NO_HISTOGRAM_NS:
                instruments.limiter_wait.record((end - start) / 1e9, {"asyncsdk.wait.cause": cause})
            return
        instruments.limiter_wait.record((end - start) / 1e9, {"asyncsdk.wait.cause": cause})
        span = instruments.tracer.start_span(
            "asyncsdk.wait",
            context=self._ctx,
            attributes={"asyncsdk.wait.cause": cause},
            start_time=start,
        )
        if exc is not None:
            fail(span, exc)
        span.end(end_time=end)

    def begin(self, headers: dict[str, str]) -> dict[str, str]:
        """Start the attempt's CLIENT span; return ``headers`` with its trace context.

        The span is current while the request is sent (with HTTP instrumentation
        suppressed), and the returned headers carry it to the server (``traceparent``,
        by the configured propagator), as an HTTP client instrumentation would.
        """
        instruments = self._hooks.instruments
        attrs = self._attrs
        if self.attempts:
            attrs = {**attrs, "http.request.resend_count": self.attempts}
        self.attempts += 1
        name = f"GET {self.template}" if self.template is not None else "GET"
        self._start = start = instruments.clock()
        span = self._span = instruments.tracer.start_span(
            name, context=self._ctx, kind=SpanKind.CLIENT, attributes=attrs, start_time=start
        )
        ctx = otel_context.set_value(
            _SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, trace.set_span_in_context(span)
        )
        self._token = otel_context.attach(ctx)
        self._hooks.in_flight += 1
        sent = dict(headers)
        propagate.inject(sent, context=ctx)
        return sent

    def end(
        self,
        status: int | None,
        headers: Mapping[str, str] | None = None,
        exc: BaseException | None = None,
    ) -> None:
        """End the attempt's span with its answer (``status``, ``headers``) or ``exc``."""
        span, token = self._span, self._token
        if span is None:
            return
        self._span = self._token = None
        hooks = self._hooks
        instruments = hooks.instruments
        otel_context.detach(token)  # type: ignore[arg-type]
        end = instruments.clock()
        hooks.in_flight -= 1
        kind = error_type(status, exc)
        metric = dict(hooks._metric_base)
        attrs: dict[str, Any] = {}
        if status is not None:
            attrs["http.response.status_code"] = metric["http.response.status_code"] = status
            request_id = headers.get("x-request-id") if headers is not None else None
            if request_id:
                attrs[_REQUEST_ID] = (request_id[:200],)
            hooks.answered(status == 429 or (status == 503 and "Retry-After" in (headers or {})))
        if self.template is not None:
            metric["url.template"] = self.template
        if kind is not None:
            attrs["error.type"] = metric["error.type"] = kind
            span.set_status(Status(StatusCode.ERROR, kind))
            if exc is not None and not isinstance(exc, asyncio.CancelledError):
                span.record_exception(exc, escaped=True)
        span.set_attributes(attrs)
        span.end(end_time=end)
        instruments.duration.record((end - self._start) / 1e9, metric)

    @contextmanager
    def retry_wait(self, cause: str, seconds: float) -> Iterator[None]:
        """A child span around the retrier's sleep of ``seconds`` before a retry."""
        instruments = self._hooks.instruments
        clock = instruments.clock
        start = clock()
        span = instruments.tracer.start_span(
            "asyncsdk.wait",
            context=self._ctx,
            attributes={"asyncsdk.wait.cause": cause, "asyncsdk.wait.planned": seconds},
            start_time=start,
        )
        try:
            yield
        except BaseException as exc:
            fail(span, exc)
            raise
        finally:
            end = clock()
            span.end(end_time=end)
            instruments.retry_wait.record((end - start) / 1e9, {"asyncsdk.wait.cause": cause})
