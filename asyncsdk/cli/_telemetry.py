"""The commands' telemetry options: ``--metrics-port`` (Prometheus) and ``--otlp-endpoint``.

One helper for every command that talks to the API. A command takes the options and
runs under them in two lines::

    _telemetry.add_options(parser)        # where its arguments are added
    @_telemetry.with_telemetry            # on its ``run(args)``
    async def run(args): ...

`with_telemetry` builds the providers the options ask for, sets ``args.telemetry`` (an
`asyncsdk.Telemetry`, or ``None`` when both options are off, the default) for
`client_from_args` to pass on, and shuts them down when the command ends, however it
ends: spans still buffered are sent (within ``EXPORT_TIMEOUT``), the metrics server is
closed.

Prometheus: the OpenTelemetry Prometheus exporter (``PrometheusMetricReader``) over
prometheus-client's HTTP server, not prometheus-client's own instruments: the SDK's
metrics are OpenTelemetry instruments, and the exporter turns them into Prometheus text
(names with their unit: ``http_client_request_duration_seconds``) with no second set
of instruments to keep in step. Its registry is the command's own, not
prometheus-client's global one. The server listens on ``--metrics-host`` (loopback by
default: expose it on purpose).

OTLP: traces go to ``--otlp-endpoint`` over OTLP/HTTP (protobuf), e.g.
``http://127.0.0.1:4318/v1/traces``, in batches; the last ones get ``EXPORT_TIMEOUT``
seconds when the command ends, however many batches are left (`shut_down_traces`).

Imports: the standard library, the SDK's public API, the CLI's `_common`; the
opentelemetry SDK, its exporters and prometheus-client only when an option is given
(the ``otel-cli`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from asyncsdk.telemetry import Telemetry

from ._common import UsageError

__all__ = [
    "EXPORT_TIMEOUT",
    "add_options",
    "shut_down_traces",
    "telemetry_from_args",
    "with_telemetry",
]

#: Seconds spent at most sending the last spans when a command ends.
EXPORT_TIMEOUT: Final = 5.0
#: Seconds the flush gets to wind down once its exporter is shut down (an export still
#: on the wire is not waited for: its thread is a daemon).
_GRACE: Final = 0.5
_MISSING: Final = "{option} needs the otel-cli extra: pip install 'asyncsdk[otel-cli]' ({name})"


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--metrics-port``, ``--metrics-host`` and ``--otlp-endpoint`` (all off)."""
    group = parser.add_argument_group("telemetry (needs asyncsdk[otel-cli])")
    group.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the SDK's metrics as Prometheus text on PORT (0: any free port)",
    )
    group.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="interface of the metrics server (default: %(default)s)",
    )
    group.add_argument(
        "--otlp-endpoint",
        default=None,
        metavar="URL",
        help="send traces over OTLP/HTTP to URL (e.g. http://127.0.0.1:4318/v1/traces)",
    )


@contextlib.asynccontextmanager
async def telemetry_from_args(args: argparse.Namespace) -> AsyncIterator[Telemetry | None]:
    """Build the telemetry the options ask for (``None`` if none); shut it down after.

    Raises:
        UsageError: An option is out of range, or the otel-cli extra is missing.
    """
    port: int | None = getattr(args, "metrics_port", None)
    endpoint: str | None = getattr(args, "otlp_endpoint", None)
    if port is None and endpoint is None:
        yield None
        return
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"--metrics-port must be 0 to 65535, got {port}")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--otlp-endpoint must be an http(s) URL, got {endpoint!r}")
    option = "--metrics-port" if port is not None else "--otlp-endpoint"
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as exc:
        raise UsageError(_MISSING.format(option=option, name=exc.name)) from exc
    command = getattr(args, "command", None) or "cli"
    resource = Resource.create({"service.name": f"asyncsdk {command}"})
    with contextlib.ExitStack() as stack:
        meter_provider = tracer_provider = None
        if port is not None:
            meter_provider = _prometheus(stack, resource, args.metrics_host, port)
            stack.callback(meter_provider.shutdown)
        if endpoint is not None:
            tracer_provider, exporter = _otlp(resource, endpoint)
            stack.callback(shut_down_traces, tracer_provider, exporter, endpoint)
        else:
            tracer_provider = TracerProvider(resource=resource)  # no spans recorded
        yield Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)


def _prometheus(stack: contextlib.ExitStack, resource: Any, host: str, port: int) -> Any:
    """Start the metrics server; return the meter provider that feeds it."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError as exc:
        raise UsageError(_MISSING.format(option="--metrics-port", name=exc.name)) from exc
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise UsageError(f"--metrics-port {port} on {host}: {exc.strerror or exc}") from exc

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=EXPORT_TIMEOUT)

    stack.callback(stop)
    print(f"metrics: http://{host}:{server.server_port}/metrics", file=sys.stderr, flush=True)
    return MeterProvider(metric_readers=[reader], resource=resource)


def _otlp(resource: Any, endpoint: str) -> tuple[Any, Any]:
    """A tracer provider that sends spans to ``endpoint`` in batches, and its exporter."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise UsageError(_MISSING.format(option="--otlp-endpoint", name=exc.name)) from exc
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, export_timeout_millis=EXPORT_TIMEOUT * 1000)
    )
    return provider, exporter


def shut_down_traces(
    provider: Any, exporter: Any, endpoint: str, *, within: float = EXPORT_TIMEOUT
) -> bool:
    """Send the spans still buffered for ``within`` seconds at most, then drop the rest.

    OpenTelemetry's batch processor waits up to 30 s for its thread, which sends every
    batch left, each retried for the exporter's whole timeout: with nothing listening
    at the endpoint, a command whose work was done went on for many seconds more,
    saying nothing. Past ``within``, the exporter is shut down (its retries stop at
    once, the batches left fail without a request), and one line says where the spans
    could not go.

    Returns:
        Whether the shutdown finished within ``within`` seconds.
    """
    sending = threading.Thread(target=provider.shutdown, name="asyncsdk-otlp-flush", daemon=True)
    sending.start()
    sending.join(within)
    if not sending.is_alive():
        return True
    exporter.shutdown()
    sending.join(min(within, _GRACE))  # the batches left now fail at once; not an export
    print(f"asyncsdk: warning: the last spans were not sent to --otlp-endpoint {endpoint} "
          f"within {within:g} s (is a collector listening there?): dropped",
          file=sys.stderr, flush=True)  # fmt: skip
    return False


def with_telemetry(
    run: Callable[[argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], Awaitable[int]]:
    """Run a command under the telemetry its options ask for (``args.telemetry``)."""

    @functools.wraps(run)
    async def wrapper(args: argparse.Namespace) -> int:
        async with telemetry_from_args(args) as telemetry:
            args.telemetry = telemetry
            return await run(args)

    return wrapper
