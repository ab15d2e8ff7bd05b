"""Telemetry test helpers: in-memory providers passed in, never the global ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from asyncsdk.telemetry import Telemetry


@dataclass
class Recorded:
    """A `Telemetry` on in-memory providers, and what they recorded."""

    telemetry: Telemetry
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, Any]:
        """Metric name -> the metric (with its data points), from one collection."""
        data = self.reader.get_metrics_data()
        found: dict[str, Any] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = metric
        return found

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The spans whose parent is ``parent``, by start time."""
        assert parent.context is not None
        kids = [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]
        return sorted(kids, key=lambda s: s.start_time or 0)


def recorded(clock: Callable[[], int] | None = None) -> Recorded:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, clock=clock
    )
    return Recorded(telemetry, exporter, reader, tracer_provider)


def exported_text(rec: Recorded) -> Iterator[str]:
    """Every string the providers hold: span names, attributes, events, links, metrics."""
    for span in rec.spans():
        yield span.name
        yield from (f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            yield event.name
            yield from (f"{k}={v}" for k, v in (event.attributes or {}).items())
        for link in span.links:
            yield from (f"{k}={v}" for k, v in (link.attributes or {}).items())
        if span.status.description:
            yield span.status.description
    for metric in rec.metrics().values():
        yield metric.name
        for point in metric.data.data_points:
            yield from (f"{k}={v}" for k, v in (point.attributes or {}).items())
