"""`iter_calls`: fetch calls from any source of IDs, and yield each result as it completes.

The loop (``_stream``) reads the source through a `Feed` (``asyncsdk._pump``, shared
with the webhooks' `enrich_events`), starts one request per ID while a slot is free,
and yields results in completion order; ``_opening`` decides how wide the run is and
whether a failure stops it (the package docstring has the rules).

Imports: the standard library and the core modules `client`, `config`, `errors`,
`models` (through ``_results``), `_giveup`, `_protocol`, `_pump` and `_source`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from typing import Final, NoReturn, TypeVar, overload

from .. import _protocol
from .._giveup import doubt_width, proves_access, stop_confirmed
from .._pump import Feed, check_concurrency
from .._source import END, Source
from ..client import Client
from ..config import DEFAULT_CONCURRENCY
from ..errors import BirdError, PermissionDeniedError, RunStoppedError
from . import _opening
from ._opening import OPEN_AFTER, OPENED
from ._results import CallResult, CallStream, Leftovers

__all__ = ["CallId", "iter_calls"]

CallId = str | uuid.UUID

logger: Final = logging.getLogger("asyncsdk")

_T = TypeVar("_T")


@overload
def iter_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: str | bytes,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> NoReturn: ...


@overload
def iter_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: Iterable[object] | AsyncIterable[object] | asyncio.Queue[_T],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> CallStream: ...


def iter_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: Iterable[object] | AsyncIterable[object] | asyncio.Queue[_T],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> CallStream:
    """Fetch calls and yield each `CallResult` as soon as it completes.

    Each ID is fetched each time the source gives it: a stream may ask again for a call
    whose state has changed, and remembering every ID would grow without bound. Use
    `gather_calls` (which fetches a repeated ID once) or dedupe upstream if needed.

    Args:
        client: The client whose limiter, retries and connections to use.
        workspace_id: The workspace, for every call.
        channel_id: The channel, for every call.
        call_ids: IDs from any iterable, sync or async (a list, a file, a database
            cursor), or an `asyncio.Queue`, read lazily, one per free slot. A queue
            ends when ``None`` is taken from it (put one per consumer) or, on Python
            3.13+, when it is shut down; each ID taken is marked ``task_done``
            exactly once: when the loop asks for the next result after its own, or
            when the stream is closed (the loop left with ``break``, an exception or
            a cancellation: its result was consumed, or is in
            `CallStream.leftovers`). A single ``str`` is refused: wrap one ID in a
            list.
        concurrency: Requests in flight at most.

    Returns:
        A `CallStream`: one result per ID, in completion order (``index`` gives the
        input position), which can be drained and reports what it left when closed.

    Raises:
        InvalidIDError: ``workspace_id`` or ``channel_id`` is not a UUID (before any
            request).
        ConfigurationError: ``concurrency`` is not a positive int.
        TypeError: ``call_ids`` is a single ``str``/``bytes`` or not a source of IDs.
        Exception: Whatever reading ``call_ids`` raised, raised while iterating, after
            in-flight requests are cancelled.
        RunStoppedError: While iterating: before anything succeeded, an ID failed in a
            way every later request would repeat (nothing answers at the API's address,
            its host does not resolve, 401; 403 for two IDs), and the requests in
            flight then ended without proving access. The source is not read further;
            `CallStream.leftovers` (and the error's ``results`` and ``not_tried``) list
            what was taken and not delivered. Until its first outcome a stream sends one
            request alone (for at most `OPEN_AFTER` seconds unless that request is
            retrying a connection failure), so this costs one ID's retries, not
            ``concurrency`` of them. A client that has fetched before skips that start
            and never stops this way.
    """
    check_concurrency(concurrency)
    workspace = _protocol.canonical_id("workspace_id", workspace_id)
    channel = _protocol.canonical_id("channel_id", channel_id)
    feed = Feed(Source(call_ids, what="call_ids"), Leftovers())
    return CallStream(_stream(client, workspace, channel, feed, concurrency), feed)


async def _stream(
    client: Client,
    workspace: str,
    channel: str,
    feed: Feed[Leftovers],
    concurrency: int,
) -> AsyncGenerator[CallResult, None]:
    source = feed.source
    completed = feed.completed
    in_flight: dict[asyncio.Task[CallResult], tuple[int, object]] = {}
    is_queue = source.is_queue
    index = 0  # the next ID's position in the input

    async def fetch(index: int, call_id: object) -> CallResult:
        try:
            call = await client.get_call(workspace, channel, call_id)  # type: ignore[arg-type]
        except BirdError as exc:
            return CallResult(index, call_id, None, exc)
        return CallResult(index, call_id, call, None)

    def start(call_id: object) -> None:
        nonlocal index
        task = asyncio.create_task(fetch(index, call_id))
        in_flight[task] = (index, call_id)
        task.add_done_callback(completed.put_nowait)
        index += 1

    cancelled = False
    # Any outcome yet: the run opens to `concurrency`. An outcome showed access:
    # hopeless failures no longer stop the run. A client that fetched before starts so.
    answered = proven = _opening.warm(client)
    stop: RunStoppedError | None = None
    # Results held since the first hopeless failure, until an outcome proves access
    # (they are then yielded) or the requests in flight end without one (the run stops).
    held: list[CallResult] = []
    suspects = forbidden = 0
    retries_then = _opening.connection_retries(client)
    timer = asyncio.get_running_loop().call_later(OPEN_AFTER, completed.put_nowait, OPENED)

    def fill() -> None:
        """Take IDs while a slot is free and the source gives them without waiting."""
        width = _opening.width(concurrency, answered=answered)
        if suspects:  # in doubt: a lone 403 asks one more ID; otherwise take none
            width = doubt_width(suspects, forbidden, held=len(held))
        feed.fill(lambda: len(in_flight) < width, start)

    try:
        while True:
            fill()
            if suspects and not in_flight:
                if stop_confirmed(suspects, forbidden):
                    first = next(r for r in held if _opening.stop_reason(r, proven=False))
                    assert first.error is not None
                    reason = _opening.stop_reason(first, proven=False)
                    assert reason is not None
                    stop = RunStoppedError(reason, cause=first.error)
                    raise stop
                if feed.reader is None or len(held) > suspects:  # see `doubt_width`
                    suspects = forbidden = 0
                    while held:
                        yield held.pop(0)
                        if is_queue:
                            source.done()
                    continue  # take IDs again
            if not in_flight and feed.reader is None:
                return
            task = await completed.get()
            if task is OPENED:
                retries_now = _opening.connection_retries(client)
                if not answered and _opening.open_early(
                    retries_then=retries_then, retries_now=retries_now
                ):
                    answered = True
                continue
            if feed.read_done(task, start):
                continue
            assert isinstance(task, asyncio.Task)
            result = task.result()  # a bug's exception leaves the ID in the leftovers
            del in_flight[task]
            assert isinstance(result, CallResult)
            if _opening.stop_reason(result, proven=proven) is not None:
                suspects += 1
                forbidden += isinstance(result.error, PermissionDeniedError)
                held.append(result)
                answered = True
                continue
            proven = proven or proves_access(result.error)
            if suspects and not proven:  # still in doubt: hold it with the others
                held.append(result)
                continue
            opening = not answered or suspects > 0
            answered = True
            suspects = forbidden = 0  # access proven: what was held is ordinary outcomes
            held.append(result)
            if opening:  # open up now: the consumer may hold this result a while
                fill()
            while held:  # those not yet yielded stay in `held`: the leftovers
                yield held.pop(0)  # closing the stream after a break or an error raises here
                if is_queue:
                    source.done()
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        timer.cancel()
        # Every ID taken is marked done once (`Feed.cancel`): the one whose result was
        # in the consumer's hands when the loop was left, and each of the leftovers.
        unread = await feed.cancel(in_flight)
        left = feed.leftovers = _with_results(_left_behind(in_flight, unread, index), held)
        if stop is not None:
            stop.results = list(left.results)
            stop.not_tried = tuple(call_id for _, call_id in left.unfinished)
            logger.warning("iter_calls %s; CallStream.leftovers lists what was left", stop)
        elif left:
            (logger.info if cancelled else logger.debug)(
                "iter_calls %s with %d results not consumed and %d IDs unfinished; "
                "CallStream.leftovers lists them",
                "cancelled" if cancelled else "closed",
                len(left.results),
                len(left.unfinished),
            )
        await source.aclose()


def _with_results(left: Leftovers, held: list[CallResult]) -> Leftovers:
    """``left`` with the complete results held back, unconsumed (kept in input order)."""
    if not held:
        return left
    results = sorted((*left.results, *held), key=lambda r: r.index)
    return Leftovers(tuple(results), left.unfinished)


def _left_behind(
    in_flight: dict[asyncio.Task[CallResult], tuple[int, object]], unread: object, index: int
) -> Leftovers:
    """What the cancelled requests and read left: results complete, IDs unfinished."""
    results: list[CallResult] = []
    unfinished: list[tuple[int, object]] = []
    for task, (position, call_id) in in_flight.items():
        if task.cancelled() or task.exception() is not None:
            unfinished.append((position, call_id))
        else:
            results.append(task.result())
    if unread is not END:  # taken from the source, never started
        unfinished.append((index, unread))
    results.sort(key=lambda r: r.index)
    unfinished.sort(key=lambda pair: pair[0])
    return Leftovers(tuple(results), tuple(unfinished))
