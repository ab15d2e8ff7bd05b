"""The OpenTelemetry side of `Telemetry`: its tracer, meter and instruments, and webhooks.

`Instruments` holds one tracer, one meter and the instruments of a `Telemetry`, the
gauges' callbacks over the clients bound to it, and the span contexts of webhook
deliveries their enrichment spans link to (in this process, or from a ``traceparent``
carried across a stream). The per-call hooks the engine calls are in `_attempts`; these
two modules are the only importers of ``opentelemetry``, and they are imported only when
a `Telemetry` is created.

Spans and contexts: a span is made current (``context.attach``) only inside the one
coroutine that ends it, and detached in that coroutine's ``finally``; nothing is
attached in one callback and detached in another, so cancellation cannot leave a
context behind ("Failed to detach context").

Clock: every span's start and end and every duration come from one clock (nanoseconds
since the epoch, ``time.time_ns`` unless a test passes its own), so a trace's waits
and attempts add up exactly.

Imports: opentelemetry (api), the standard library, and the telemetry's `_attempts`,
`_attributes` and `_semconv`.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._attributes import delivery_outcome
from ._semconv import DURATION_BUCKETS, error_type

if TYPE_CHECKING:
    from ._attempts import ClientHooks

__all__ = ["Instruments", "fail"]

SCOPE: Final = "asyncsdk"
#: Deliveries whose span contexts are kept for the enrichment spans to link to.
_LINKS_KEPT: Final = 10_000
_PROPAGATOR: Final = TraceContextTextMapPropagator()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asyncsdk")
    except PackageNotFoundError:  # a source tree
        return "0+unknown"


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
        seconds = functools.partial(
            meter.create_histogram,
            unit="s",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.duration = seconds(
            "http.client.request.duration",
            description="Duration of HTTP client requests (one per attempt).",
        )
        self.limiter_wait = seconds(
            "asyncsdk.client.rate_limit.wait",
            description="Time an attempt waited for the client's rate limiter, by cause.",
        )
        self.retry_wait = seconds(
            "asyncsdk.client.retry.wait",
            description="Time waited before a retry, by cause (retry_after, backoff).",
        )
        self.items = meter.create_counter(
            "asyncsdk.items",
            unit="{item}",
            description="Items a bulk fetch or a listing resolved, by operation and outcome.",
        )
        self.media_bytes = meter.create_counter(
            "asyncsdk.media.bytes",
            unit="By",
            description="Bytes received from the object store by media operations.",
        )
        self.media_resumes = meter.create_counter(
            "asyncsdk.media.resumes",
            unit="{request}",
            description="Requests to the object store after a media operation's first.",
        )
        self.deliveries = meter.create_counter(
            "asyncsdk.webhook.deliveries",
            unit="{delivery}",
            description="Webhook deliveries by outcome (accepted, duplicate, refused, busy).",
        )
        self._clients: weakref.WeakSet[ClientHooks] = weakref.WeakSet()
        self._queues: weakref.WeakSet[Any] = weakref.WeakSet()
        self.links: OrderedDict[str, trace.SpanContext] = OrderedDict()
        #: Deliveries being handled now, by request id: a sink that stores the event
        #: elsewhere (a Redis stream) reads the span's ``traceparent`` before it is kept.
        self.handling: dict[str, trace.SpanContext] = {}
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
            # A Prometheus scrape calls this from its own thread while a client may be
            # created: that collection skips the gauges rather than fail.
            try:
                clients = list(self._clients)
            except RuntimeError:
                return
            for client in clients:
                value = client.gauge(what)
                if value is not None:
                    yield Observation(value, client.gauge_attributes)

        return observe

    def _queue_depth(self, _options: CallbackOptions) -> Iterable[Observation]:
        try:
            queues = list(self._queues)
        except RuntimeError:  # changed by another thread meanwhile: next collection
            return
        for queue in queues:
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
        from ._attempts import ClientHooks

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
        """The W3C ``traceparent`` of delivery ``request_id``'s span: being handled, or kept."""
        span_context = self.handling.get(request_id) or self.links.get(request_id)
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
            key = request_id[:200] if request_id else None
            if key:
                self.handling[key] = span.get_span_context()
            try:
                response = await handle()
            finally:
                if key:
                    self.handling.pop(key, None)
            outcome, reason = delivery_outcome(response.status, response.text)
            attrs = {"asyncsdk.webhook.outcome": outcome}
            if reason is not None:
                attrs["asyncsdk.webhook.reason"] = reason
            span.set_attributes({**attrs, "http.response.status_code": response.status})
            self.deliveries.add(1, attrs)
            if outcome == "accepted" and key:
                self.remember_delivery(key, span.get_span_context())
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
            fail(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end(end_time=clock())


def fail(span: trace.Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc`` (a cancellation without a recorded exception)."""
    kind = error_type(None, exc)
    span.set_attribute("error.type", kind or "")
    if isinstance(exc, asyncio.CancelledError):
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
        return
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.record_exception(exc, escaped=True)
