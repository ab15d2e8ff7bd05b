"""One call's trace: it waits for the limiter, gets a 429, then a 503, then its answer.

Starts its own embedded server (no environment needed) and prints the span tree with
each span's start (from the call's start) and duration, then the metrics recorded.
"""

import asyncio

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import asyncsdk
from asyncsdk.server import Dataset, EmbeddedServer, ScriptedResponse, ServerConfig


def show(span: ReadableSpan, spans: list[ReadableSpan], start: int, depth: int = 0) -> None:
    attrs = dict(span.attributes or {})
    begin = (span.start_time or 0) - start
    took = (span.end_time or 0) - (span.start_time or 0)
    notes = [f"{key}={attrs[key]}" for key in ("asyncsdk.wait.cause",) if key in attrs]
    if "http.response.status_code" in attrs:
        notes.append(f"status={attrs['http.response.status_code']}")
    if "http.request.resend_count" in attrs:
        notes.append(f"resend={attrs['http.request.resend_count']}")
    label = f"{'  ' * depth}{span.name} [{span.kind.name}]"
    print(f"{label:<80} +{begin / 1e6:7.1f} ms {took / 1e6:7.1f} ms  {' '.join(notes)}")
    assert span.context is not None
    children = [s for s in spans if s.parent and s.parent.span_id == span.context.span_id]
    for child in sorted(children, key=lambda s: s.start_time or 0):
        show(child, spans, start, depth + 1)


async def main() -> None:
    # An app passes the providers it already has (with its exporters); here, in memory.
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = asyncsdk.Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)

    dataset = Dataset(size=10)
    slow = dataset.call_ids[0]
    async with EmbeddedServer(ServerConfig(access_keys=("demo",)), dataset=dataset) as server:
        server.script(
            slow, ScriptedResponse(429, headers={"Retry-After": "1"}), ScriptedResponse(503)
        )
        async with asyncsdk.Client(
            access_key="demo", base_url=server.base_url, rate_limit=2, telemetry=telemetry
        ) as client:
            await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[1])
            exporter.clear()  # that first call took the limiter's token: the next one waits
            await client.get_call(dataset.workspace_id, dataset.channel_id, slow)

    spans = list(exporter.get_finished_spans())
    (root,) = [s for s in spans if s.parent is None]
    show(root, spans, root.start_time or 0)
    data = reader.get_metrics_data()
    assert data is not None
    names = sorted(
        m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics
    )
    print("metrics:", ", ".join(names))


if __name__ == "__main__":
    asyncio.run(main())
