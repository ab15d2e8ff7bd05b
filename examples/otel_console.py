"""Print the SDK's spans on the console: a first look at the traces, no collector needed.

The spans of one ``get_call`` go to standard output as JSON, one object per span, as
OpenTelemetry's `ConsoleSpanExporter` writes them. In an application, pass the tracer
provider it already configured instead, with its own exporter.
"""

import asyncio
import os
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    call_id = os.environ["BIRD_CALL_ID"]

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    telemetry = asyncsdk.Telemetry(tracer_provider=tracer_provider)

    async with asyncsdk.Client(telemetry=telemetry) as client:
        call = await client.get_call(workspace_id, channel_id, call_id)
    tracer_provider.shutdown()  # flushes the exporter (a batch processor would need it)
    print("fetched", call.id, call.status)


if __name__ == "__main__":
    asyncio.run(main())
