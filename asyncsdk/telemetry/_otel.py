"""The OpenTelemetry side of `Telemetry`: the only module that imports ``opentelemetry``.

`Instruments` holds one tracer, one meter and the instruments of a `Telemetry`;
`ClientHooks` binds them to one client (its server address, the gauges it feeds);
`CallTrace` follows one API call through its attempts. The engine calls them at few
points, and only when telemetry is on (``Engine.telemetry`` is not ``None``):

- per attempt: `CallTrace.before_wait` / `CallTrace.after_wait` around the limiter's
  ``acquire`` (a child span for a wait that took time, and the wait histogram), then
  `CallTrace.begin` / `CallTrace.end` around the wire request: the CLIENT span;
- per retry: `ClientHooks.retry_wait`, a context manager around the retrier's sleep;
- per operation: `ClientHooks.operation` (an INTERNAL span, the current one while the
  operation runs).

Another GET (a recording's media, with its redirect) gets its CLIENT span the same way:
``trace = engine.telemetry.call(url)`` once per operation, then for each wire request
``trace.begin()`` before it is sent and ``trace.end(status, headers, exc)`` when its
body is read or it failed; a redirect's second request is a resend
(``http.request.resend_count``), and a URL outside the API root (a presigned one) is
named ``GET`` and its signature redacted in ``url.full``.

Spans and contexts: a span is made current (``context.attach``) only inside the one
coroutine that ends it, and detached in that coroutine's ``finally``; nothing is
attached in one callback and detached in another, so cancellation cannot leave a
context behind ("Failed to detach context"). While an attempt is on the wire its
context carries OpenTelemetry's ``suppress_http_instrumentation`` key, as the Azure SDK
does: the aiohttp client instrumentation, if installed, makes no second span for it.

Clock: every span's start and end and every duration come from one clock (nanoseconds
since the epoch, ``time.time_ns`` unless a test passes its own), so a trace's waits
and attempts add up exactly.

Imports: opentelemetry (api), the standard library, and the telemetry's `_attributes`
and `_semconv`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._attributes import delivery_outcome
from ._semconv import (
    DURATION_BUCKETS,
    WAIT_OUTAGE,
    WAIT_PROBE,
    WAIT_QUOTA_PAUSE,
    WAIT_RATE,
    error_type,
    redact_url,
    url_template,
)

__all__ = ["CallTrace", "ClientHooks", "Instruments"]

SCOPE: Final = "asyncsdk"
#: Waits shorter than this many nanoseconds get no span (the histogram has them all): an
#: uncontended acquire takes microseconds, a wait worth seeing in a trace milliseconds.
_NO_WAIT_NS: Final = 1_000_000
#: Attempts whose answers feed the throttled-share gauge.
_SHARE_WINDOW: Final = 100
#: Deliveries whose span contexts are kept for the enrichment spans to link to.
_LINKS_KEPT: Final = 10_000
_REQUEST_ID: Final = "http.response.header.x-request-id"
_PROPAGATOR: Final = TraceContextTextMapPropagator()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asyncsdk")
    except PackageNotFoundError:  # a source tree
        return "0+unknown"


def limiter_wait_cause(limiter: object, now: float) -> str:
    """Name why an attempt arriving at loop time ``now`` would wait in ``limiter``.

    Read from the limiter's ``holding(now)`` when it has one (`TokenBucketLimiter`);
    any other limiter's wait is its pace.
    """
    holding = getattr(limiter, "holding", None)
    why = holding(now) if holding is not None else None
    return {"pause": WAIT_QUOTA_PAUSE, "outage": WAIT_OUTAGE, "probe": WAIT_PROBE}.get(
        why or "", WAIT_RATE
    )


class Instruments:
    """One `Telemetry`'s tracer, meter and instruments (created once, shared by clients).

    Args:
        tracer_provider: Where spans go; the global provider when ``None``.
        meter_provider: Where metrics go; the global provider when ``None``.
        clock: Nanoseconds since the epoch.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        clock: Callable[[], int] | None,
    ) -> None:
        version = _version()
        self._given = tracer_provider is not None or meter_provider is not None
        self.clock: Callable[[], int] = clock or time.time_ns
        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SCOPE, version)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(SCOPE, version)
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests (one per attempt).",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.limiter_wait = meter.create_histogram(
            "asyncsdk.client.rate_limit.wait",
            unit="s",
            description="Time an attempt waited for the client's rate limiter, by cause.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.retry_wait = meter.create_histogram(
            "asyncsdk.client.retry.wait",
            unit="s",
            description="Time waited before a retry, by cause (retry_after, backoff).",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.items = meter.create_counter(
            "asyncsdk.items",
            unit="{item}",
            description="Items a bulk fetch or a listing resolved, by operation and outcome.",
        )
        self.deliveries = meter.create_counter(
            "asyncsdk.webhook.deliveries",
            unit="{delivery}",
            description="Webhook deliveries by outcome (accepted, duplicate, refused, busy).",
        )
        self._clients: weakref.WeakSet[ClientHooks] = weakref.WeakSet()
        self._queues: weakref.WeakSet[Any] = weakref.WeakSet()
        self.links: OrderedDict[str, trace.SpanContext] = OrderedDict()
        for name, unit, description, callback in (
            ("asyncsdk.client.rate_limit.rate", "{request}/s", "Current sending rate.", "rate"),
            (
                "asyncsdk.client.rate_limit.limit",
                "{request}/s",
                "The limiter's estimate of the server's limit.",
                "limit",
            ),
            (
                "asyncsdk.client.rate_limit.throttled_share",
                "1",
                "Share of the last 100 answers that were throttling (429 or 503+Retry-After).",
                "share",
            ),
            (
                "asyncsdk.client.retry_budget.tokens",
                "{token}",
                "Retry tokens left (retries stop below half).",
                "budget",
            ),
            ("http.client.active_requests", "{request}", "Attempts on the wire now.", "active"),
        ):
            meter.create_observable_gauge(
                name, callbacks=[self._gauge(callback)], unit=unit, description=description
            )
        meter.create_observable_gauge(
            "asyncsdk.webhook.queue.depth",
            callbacks=[self._queue_depth],
            unit="{event}",
            description="Events waiting in a webhook receiver's queue.",
        )

    def _gauge(self, what: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            for client in list(self._clients):
                value = client.gauge(what)
                if value is not None:
                    yield Observation(value, client.gauge_attributes)

        return observe

    def _queue_depth(self, _options: CallbackOptions) -> Iterable[Observation]:
        for queue in list(self._queues):
            yield Observation(queue.qsize())

    def configured(self) -> bool:
        """Whether a provider was passed, or a global one is configured by now."""
        if self._given:
            return True
        tracer_provider = trace.get_tracer_provider()
        meter_provider = metrics.get_meter_provider()
        return not (
            isinstance(tracer_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
            and type(meter_provider).__name__ in ("_ProxyMeterProvider", "NoOpMeterProvider")
        )

    def watch_queue(self, queue: object) -> None:
        """Report ``queue``'s depth (an `asyncio.Queue`) while it lives."""
        if isinstance(queue, asyncio.Queue):
            self._queues.add(queue)

    def bind(
        self,
        base_url: str,
        base_path: str,
        limiter: Callable[[], object],
        budget: Callable[[], int],
    ) -> ClientHooks | None:
        """Return the hooks of one client (see `ClientHooks`); ``None`` if nothing records.

        Nothing records when no provider was passed and no global one is configured
        when the client is created: the client then pays nothing, as without telemetry.
        """
        if not self.configured():
            return None
        hooks = ClientHooks(self, base_url, base_path, limiter, budget)
        self._clients.add(hooks)
        return hooks

    # --- webhook deliveries and the enrichment that follows them ---

    def remember_delivery(self, request_id: str, span_context: trace.SpanContext) -> None:
        """Keep the span context of delivery ``request_id`` for its enrichment to link."""
        links = self.links
        links[request_id] = span_context
        links.move_to_end(request_id)
        while len(links) > _LINKS_KEPT:
            links.popitem(last=False)

    def delivery_links(self, request_ids: Iterable[str | None]) -> list[Link]:
        """Return links to the deliveries named by ``request_ids`` (those remembered)."""
        found = (self.links.get(r) for r in request_ids if r is not None)
        return [Link(context) for context in found if context is not None]

    def traceparent(self, request_id: str) -> str | None:
        """The W3C ``traceparent`` of delivery ``request_id``'s span, if remembered."""
        span_context = self.links.get(request_id)
        if span_context is None:
            return None
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(
            carrier, context=trace.set_span_in_context(trace.NonRecordingSpan(span_context))
        )
        return carrier.get("traceparent")

    def adopt_traceparent(self, request_id: str, traceparent: str) -> bool:
        """Remember a delivery's span from its ``traceparent`` (read from a stream entry)."""
        ctx = _PROPAGATOR.extract({"traceparent": traceparent})
        span_context = trace.get_current_span(ctx).get_span_context()
        if not span_context.is_valid:
            return False
        self.remember_delivery(request_id, span_context)
        return True

    async def delivery(self, request_id: str | None, handle: Callable[[], Awaitable[Any]]) -> Any:
        """Run a webhook receiver's ``handle()`` in its span; count the outcome.

        An accepted delivery's span context is remembered under its ``request_id``, for
        the enrichment span of its event to link to.
        """
        with self.span("webhook.receive", {}) as span:
            response = await handle()
            outcome, reason = delivery_outcome(response.status, response.text)
            attrs = {"asyncsdk.webhook.outcome": outcome}
            if reason is not None:
                attrs["asyncsdk.webhook.reason"] = reason
            span.set_attributes({**attrs, "http.response.status_code": response.status})
            self.deliveries.add(1, attrs)
            if outcome == "accepted" and request_id:
                self.remember_delivery(request_id[:200], span.get_span_context())
            return response

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any],
        *,
        links: list[Link] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Iterator[trace.Span]:
        """Run the block in a span made current, ended (with its error) however it ends."""
        clock = self.clock
        span = self.tracer.start_span(
            name, kind=kind, attributes=attributes, links=links, start_time=clock()
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end(end_time=clock())


def _fail(span: trace.Span, exc: BaseException) -> None:
    kind = error_type(None, exc)
    span.set_attribute("error.type", kind or "")
    if isinstance(exc, asyncio.CancelledError):
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
        return
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.record_exception(exc, escaped=True)


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
        from urllib.parse import urlsplit

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

    @contextmanager
    def retry_wait(self, cause: str, seconds: float) -> Iterator[None]:
        """A child span around the retrier's sleep of ``seconds`` before a retry."""
        instruments = self.instruments
        clock = instruments.clock
        start = clock()
        span = instruments.tracer.start_span(
            "asyncsdk.wait",
            attributes={"asyncsdk.wait.cause": cause, "asyncsdk.wait.planned": seconds},
            start_time=start,
        )
        try:
            yield
        except BaseException as exc:
            _fail(span, exc)
            raise
        finally:
            end = clock()
            span.end(end_time=end)
            instruments.retry_wait.record((end - start) / 1e9, {"asyncsdk.wait.cause": cause})


class CallTrace:
    """One API call's attempts: their waits, CLIENT spans and metrics (module docstring)."""

    __slots__ = (
        "_attrs",
        "_cause",
        "_hooks",
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
        self.template = url_template(path, hooks.base_path) if isinstance(path, str) else None
        self.attempts = 0
        self._attrs: dict[str, Any] = {
            "http.request.method": "GET",
            "server.address": hooks.server_address,
            "server.port": hooks.server_port,
            # The API's own URLs are built from validated parts: nothing to redact.
            "url.full": text if text.startswith(hooks.base_url) else redact_url(text),
        }
        if self.template is not None:
            self._attrs["url.template"] = self.template
        self._span: trace.Span | None = None
        self._token: object = None
        self._start = 0
        self._waited = 0
        self._cause = WAIT_RATE

    def before_wait(self, limiter: object) -> None:
        """Note why and when the attempt starts waiting for ``limiter``."""
        self._cause = limiter_wait_cause(limiter, asyncio.get_running_loop().time())
        self._waited = self._hooks.instruments.clock()

    def after_wait(self, exc: BaseException | None = None) -> None:
        """Record the wait just ended (a span if it took time), or how it failed."""
        instruments = self._hooks.instruments
        start, end = self._waited, instruments.clock()
        cause = self._cause
        instruments.limiter_wait.record((end - start) / 1e9, {"asyncsdk.wait.cause": cause})
        if end - start < _NO_WAIT_NS and exc is None:
            return
        span = instruments.tracer.start_span(
            "asyncsdk.wait", attributes={"asyncsdk.wait.cause": cause}, start_time=start
        )
        if exc is not None:
            _fail(span, exc)
        span.end(end_time=end)

    def begin(self) -> None:
        """Start the attempt's CLIENT span, current (with HTTP instrumentation suppressed)."""
        instruments = self._hooks.instruments
        attrs = self._attrs
        if self.attempts:
            attrs = {**attrs, "http.request.resend_count": self.attempts}
        self.attempts += 1
        name = f"GET {self.template}" if self.template is not None else "GET"
        self._start = start = instruments.clock()
        span = self._span = instruments.tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attrs, start_time=start
        )
        ctx = otel_context.set_value(
            _SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, trace.set_span_in_context(span)
        )
        self._token = otel_context.attach(ctx)
        self._hooks.in_flight += 1

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
