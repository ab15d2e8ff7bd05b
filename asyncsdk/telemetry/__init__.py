"""OpenTelemetry traces and metrics for every call, attempt, wait and webhook delivery.

`Telemetry` is what a user passes: ``Client(telemetry=Telemetry(tracer_provider=...,
meter_provider=...))``. Without it (the default) the SDK records nothing, does not
import ``opentelemetry`` at all, and its request path pays one ``is None`` test per
attempt. With it, the engine (`asyncsdk._engine`) calls the hooks of
`asyncsdk.telemetry._attempts` over the instruments of `asyncsdk.telemetry._otel`, the
media methods those of `asyncsdk.telemetry._media` (the only importers of
``opentelemetry``), and the operations are wrapped by `operation` (an
INTERNAL span each).

Why the providers are passed in rather than found: the global providers can be set only
once per process, so tests and apps with several pipelines need to choose; and telemetry
that switches itself on because a library configured a global provider for other
reasons would surprise. ``Telemetry()`` with no arguments uses the global providers
(an app's existing OpenTelemetry set-up), at the cost of one argument.

Imports: the standard library, `asyncsdk.errors`; ``_otel``, ``_attempts`` and
``_media`` (and so opentelemetry) only when a `Telemetry` is created.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from ._attempts import ClientHooks
    from ._otel import Instruments

__all__ = ["Telemetry", "hooks_of", "operation"]

P = ParamSpec("P")
T = TypeVar("T")


class Telemetry:
    """Where the SDK's spans and metrics go: pass one as ``Client(telemetry=...)``.

    Needs the ``otel`` extra (``pip install 'asyncsdk[otel]'``: opentelemetry-api).
    One `Telemetry` may serve several clients and webhook receivers; its instruments
    are created once.

    Example:
        ```python
        from opentelemetry.sdk.trace import TracerProvider

        telemetry = asyncsdk.Telemetry(tracer_provider=TracerProvider())
        async with asyncsdk.Client(telemetry=telemetry) as client:
            await client.get_call(workspace_id, channel_id, call_id)
        ```

    Args:
        tracer_provider: An OpenTelemetry ``TracerProvider``; the global one when
            ``None``.
        meter_provider: An OpenTelemetry ``MeterProvider``; the global one when ``None``.
        clock: Nanoseconds since the epoch, for every span's times and every duration
            (``time.time_ns`` by default; tests pass a virtual clock).

    Raises:
        ConfigurationError: opentelemetry-api is not installed.
    """

    __slots__ = ("_instruments",)

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        try:
            from ._otel import Instruments
        except ImportError as exc:  # without the extra (tested with opentelemetry hidden)
            raise ConfigurationError(
                "telemetry needs opentelemetry-api: pip install 'asyncsdk[otel]'"
            ) from exc
        self._instruments: Instruments = Instruments(tracer_provider, meter_provider, clock)

    def __repr__(self) -> str:
        return "<asyncsdk.Telemetry>"

    def delivery_traceparent(self, request_id: str) -> str | None:
        """Return the W3C ``traceparent`` of a webhook delivery's span, if it is known.

        A receiver that passes events on through another process (a Redis stream)
        stores it with the event, so that the enrichment span there links to it:
        known while the delivery is being handled (its sink is called), and after it
        was accepted.
        """
        return self._instruments.traceparent(request_id)

    def link_delivery(self, request_id: str, traceparent: str) -> bool:
        """Remember a delivery's span from its ``traceparent`` (read with the event).

        The enrichment span of the event with this ``request_id`` then links to it.
        Returns whether ``traceparent`` was valid.
        """
        return self._instruments.adopt_traceparent(request_id, traceparent)

    def watch_queue(self, queue: object) -> None:
        """Report ``queue``'s depth as ``asyncsdk.webhook.queue.depth`` while it lives.

        For an `asyncio.Queue` that events wait in (a receiver given a queue reports
        it by itself); anything else is ignored. The queue is not kept alive.
        """
        self._instruments.watch_queue(queue)


def check_telemetry(telemetry: object) -> Telemetry | None:
    """Return ``telemetry`` checked: a `Telemetry` or ``None``.

    Raises:
        ConfigurationError: It is something else.
    """
    if telemetry is None or isinstance(telemetry, Telemetry):
        return telemetry
    raise ConfigurationError(
        f"telemetry must be an asyncsdk.Telemetry or None, got {type(telemetry).__name__}"
    )


def hooks_of(client: object) -> ClientHooks | None:
    """Return the telemetry hooks of a client, or ``None`` when its telemetry is off."""
    engine = getattr(client, "_engine", None)
    return getattr(engine, "telemetry", None)


def span_for(
    client: object,
    name: str,
    attributes: Mapping[str, Any],
    request_ids: tuple[str | None, ...] = (),
) -> AbstractContextManager[object]:
    """An INTERNAL span named ``name`` for ``client``'s telemetry, or a no-op without it.

    ``request_ids`` name webhook deliveries whose spans this one links to.
    """
    hooks = hooks_of(client)
    if hooks is None:
        return nullcontext()
    links = hooks.instruments.delivery_links(request_ids) if request_ids else None
    span: AbstractContextManager[object] = hooks.operation(name, attributes, links)
    return span


def operation(
    name: str,
    attributes: Callable[..., Mapping[str, Any]],
    items: Callable[[Any], tuple[int, int]] | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Decorate an async method or function of a client with an INTERNAL span.

    The first argument is the client (``self`` of a resource, or the ``client`` of a
    helper); ``attributes`` gets the other arguments and returns the span's attributes
    (IDs, never a credential). ``items``, if given, counts what the result holds as
    ``(done, failed)`` into the ``asyncsdk.items`` counter; an exception counts as one
    failed. Without telemetry, the call goes straight through. The wrapper is an
    ``async def`` itself, so that the method still looks like one (`unittest.mock`'s
    autospec, frameworks that inspect handlers).
    """

    def decorate(
        fn: Callable[P, Coroutine[Any, Any, T]],
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            hooks = hooks_of(args[0] if args else kwargs.get("client"))
            if hooks is None:
                return await fn(*args, **kwargs)
            given = {k: v for k, v in kwargs.items() if k != "client"}
            try:
                with hooks.operation(name, attributes(*args[1:], **given)):
                    result = await fn(*args, **kwargs)
            except Exception:
                if items is not None:
                    hooks.count_items(name, 0, 1)
                raise
            if items is not None:
                hooks.count_items(name, *items(result))
            return result

        return wrapper

    return decorate
