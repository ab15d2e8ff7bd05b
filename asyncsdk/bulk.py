"""Fetching many calls: `iter_calls` streams results as they complete, `gather_calls` collects.

Both sit on the public `Client.get_call`, so every request goes through the client's
rate limiter, retries and counters. Every ID asked for gets exactly one outcome: a
`Call`, or the `BirdError` that ended it (an invalid ID gets its `InvalidIDError`
without a request). Anything else (a bug, a cancellation) propagates.

`iter_calls` keeps at most ``concurrency`` requests in flight and reads the next ID
only when a slot is free, so memory stays flat however many IDs flow through it. It
returns a `CallStream` around an async generator: leaving the loop early (``break``,
an exception, cancellation) cancels the requests in flight when the stream is closed,
which asyncio does right after the loop lets go of it; ``async with`` (or
`contextlib.aclosing`) has that happen before the next statement. Nothing is lost
silently: a closed stream's `CallStream.leftovers` lists the results complete but not
consumed and the IDs whose requests were cancelled. `CallStream.drain` stops reading
new IDs and lets those in flight finish.

A run that cannot succeed stops: until an outcome proves access (a call, or an answer
about the request such as a 404: `asyncsdk._giveup.proves_access`), an ID that fails
in a way every later request would repeat (`asyncsdk._giveup.give_up_reason`: refused
connection, unknown host, 401; a 403 only when two IDs got one, since a 403 may be
about one call) ends the run with `RunStoppedError`, after one ID's retries, since a
run sends one request alone until its first outcome. Such a failure while other
requests are in flight holds the run (no new IDs) until they end: one that proves
access keeps the run going. A client that has already fetched something has proven
access: its runs start at full width and do not stop this way.

Imports: the standard library, msgspec, and the client, config, errors, models,
_giveup, _protocol, _source and telemetry (the INTERNAL span of `gather_calls`)
modules of this package.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import Any, Final, NoReturn, Protocol, TypeVar, overload

import msgspec

from . import _protocol
from ._giveup import doubt_width, give_up_reason, proves_access, stop_confirmed
from ._source import EMPTY, END, Source
from .client import Client
from .config import DEFAULT_CONCURRENCY
from .errors import BirdError, ConfigurationError, PermissionDeniedError, RunStoppedError
from .models import Call
from .telemetry import operation
from .telemetry._attributes import gather_attributes, gather_items

__all__ = ["CallResult", "CallStream", "Leftovers", "SequenceNotStr", "gather_calls", "iter_calls"]

CallId = str | uuid.UUID
#: Called as ``progress(done, total)`` after each ID is resolved.
Progress = Callable[[int, int], None]

logger: Final = logging.getLogger("asyncsdk")

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class SequenceNotStr(Protocol[_T_co]):
    """A sequence that is not a ``str``: a list, a tuple, the server's `CallIds` ...

    ``str`` is a sequence of characters; this protocol leaves it out for type checkers
    (its ``__contains__`` takes only ``str``), as the functions taking it do at run time.
    """

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[_T_co]: ...

    def __contains__(self, value: object, /) -> bool: ...


class CallResult(msgspec.Struct, frozen=True):
    """One ID's outcome from `iter_calls`.

    Immutable. A `msgspec.Struct` rather than a dataclass because one is built per ID,
    and a Struct builds in a seventh of the time of a frozen dataclass.

    Attributes:
        index: The ID's position in the input (0-based).
        call_id: The ID as it was given.
        call: The call, or ``None`` if it failed.
        error: The error that ended it, or ``None`` if it succeeded.
    """

    index: int
    call_id: object
    call: Call | None
    error: BirdError | None

    @property
    def ok(self) -> bool:
        """Whether the call was fetched."""
        return self.error is None

    def unwrap(self) -> Call:
        """Return the call, or raise its error."""
        if self.error is not None:
            raise self.error
        assert self.call is not None
        return self.call


def _check_concurrency(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")


class Leftovers(msgspec.Struct, frozen=True):
    """What a `CallStream` closed early did not deliver: nothing is lost silently.

    Attributes:
        results: Outcomes that were complete but not yet consumed, by input position.
        unfinished: ``(index, call_id)`` of each ID taken from the source whose request
            was cancelled (or not yet started), by input position.
    """

    results: tuple[CallResult, ...] = ()
    unfinished: tuple[tuple[int, object], ...] = ()

    def __bool__(self) -> bool:
        """Whether anything was left over."""
        return bool(self.results or self.unfinished)


class _State:
    """What the stream object and its generator share."""

    __slots__ = ("leftovers", "reader", "stopped")

    def __init__(self) -> None:
        self.stopped = False
        self.reader: asyncio.Task[object] | None = None
        self.leftovers = Leftovers()


class CallStream(AsyncIterator[CallResult]):
    """The results of `iter_calls`, as they complete; an async iterator you can drain.

    Iterate it with ``async for``. Besides that:

    - `drain` stops reading the source; the IDs already taken are still fetched and
      yielded, then the iteration ends;
    - `aclose` (or leaving ``async with``) cancels what is in flight;
    - `leftovers` then lists what was not delivered: results complete but not
      consumed, and the IDs whose requests were cancelled.

    Example:
        ```python
        stream = iter_calls(client, workspace_id, channel_id, queue)
        async with stream:
            async for result in stream:
                ...
        for result in stream.leftovers.results: ...  # after a cancellation
        ```
    """

    __slots__ = ("_agen", "_state")

    def __init__(self, agen: AsyncGenerator[CallResult, None], state: _State) -> None:
        self._agen = agen
        self._state = state

    def __aiter__(self) -> CallStream:
        return self

    def __anext__(self) -> Awaitable[CallResult]:
        return self._agen.__anext__()

    async def __aenter__(self) -> CallStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def drain(self) -> None:
        """Stop reading IDs; finish and yield those already taken, then end.

        A read waiting on the source is cancelled: safe for an `asyncio.Queue` (the
        item stays in it), and for most async iterators.
        """
        state = self._state
        state.stopped = True
        if state.reader is not None:
            state.reader.cancel()

    async def aclose(self) -> None:
        """Cancel the requests in flight and end the stream; `leftovers` says what was left."""
        await self._agen.aclose()

    @property
    def draining(self) -> bool:
        """Whether the source is no longer read (drained, or exhausted)."""
        return self._state.stopped

    @property
    def leftovers(self) -> Leftovers:
        """What was not delivered when the stream was closed or cancelled (empty before)."""
        return self._state.leftovers


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
    _check_concurrency(concurrency)
    workspace = _protocol.canonical_id("workspace_id", workspace_id)
    channel = _protocol.canonical_id("channel_id", channel_id)
    source = Source(call_ids, what="call_ids")
    state = _State()
    return CallStream(_stream(client, workspace, channel, source, concurrency, state), state)


OPEN_AFTER: Final = 1.0
"""Seconds a run waits for its first outcome before it opens to ``concurrency`` anyway.

Unless the client retried a connection failure meanwhile: then the first ID may be
failing in a way that stops the run, and its verdict (after its retries) decides
whether the run stops or opens. A 429, a 5xx or a timeout never stops a run, so
retrying one (a ``Retry-After`` of many seconds) does not hold the run back.
"""

_OPEN: Final = object()  # put on the completion queue when OPEN_AFTER has passed


def _width(concurrency: int, *, answered: bool) -> int:
    """Requests allowed in flight: one until the run's first outcome, then ``concurrency``.

    Like the limiter's first probe: a run that cannot succeed (nothing listens, a wrong
    key) learns it from one ID's retries instead of spending ``concurrency`` of them, and
    a healthy run loses one round trip (at most `OPEN_AFTER` seconds).
    """
    return concurrency if answered else 1


def _open_early(*, retries_then: int, retries_now: int) -> bool:
    """Whether a run still waiting for its first outcome opens at `OPEN_AFTER`.

    Args:
        retries_then: The client's connection retries when the run started.
        retries_now: The same count now.

    Returns:
        True unless a connection failure was retried: only those may end in a stop.
    """
    return retries_now == retries_then


def _connection_retries(client: Client) -> int:
    """The client's retries of connection failures so far (see `retry.retry_reason`)."""
    return client.stats.retries_by_reason.get("connection", 0)


def _stop_reason(result: CallResult, *, proven: bool) -> str | None:
    """Why the run may stop at ``result``, or None: a hopeless failure before any access."""
    if proven or result.error is None:
        return None
    return give_up_reason(result.error)


def _warm(client: Client) -> bool:
    """Whether the client has already fetched something: access is proven, no probe needed.

    A web app shares one client: its ``gather_calls`` of 10 IDs must not pay a lone
    first round trip, nor stop on a connection refused during a rolling restart.
    """
    return client.stats.succeeded > 0


async def _stream(
    client: Client,
    workspace: str,
    channel: str,
    source: Source,
    concurrency: int,
    state: _State,
) -> AsyncGenerator[CallResult, None]:
    completed: asyncio.Queue[object] = asyncio.Queue()
    in_flight: dict[asyncio.Task[CallResult], tuple[int, object]] = {}
    take_nowait = source.take_nowait
    is_queue = source.is_queue

    async def fetch(index: int, call_id: object) -> CallResult:
        try:
            call = await client.get_call(workspace, channel, call_id)  # type: ignore[arg-type]
        except BirdError as exc:
            return CallResult(index, call_id, None, exc)
        return CallResult(index, call_id, call, None)

    def start(index: int, call_id: object) -> None:
        task = asyncio.create_task(fetch(index, call_id))
        in_flight[task] = (index, call_id)
        task.add_done_callback(completed.put_nowait)

    index = 0
    cancelled = False
    # Any outcome yet: the run opens to `concurrency`. An outcome showed access:
    # hopeless failures no longer stop the run. A client that fetched before starts so.
    answered = proven = _warm(client)
    stop: RunStoppedError | None = None
    # Results held since the first hopeless failure, until an outcome proves access
    # (they are then yielded) or the requests in flight end without one (the run stops).
    held: list[CallResult] = []
    suspects = forbidden = 0
    retries_then = _connection_retries(client)
    timer = asyncio.get_running_loop().call_later(OPEN_AFTER, completed.put_nowait, _OPEN)

    def fill() -> None:
        """Take IDs while a slot is free and the source gives them without waiting."""
        nonlocal index
        width = _width(concurrency, answered=answered)
        if suspects:  # in doubt: a lone 403 asks one more ID; otherwise take none
            width = doubt_width(suspects, forbidden, held=len(held))
        while not state.stopped and state.reader is None and len(in_flight) < width:
            call_id = take_nowait()
            if call_id is EMPTY:
                reader = state.reader = asyncio.create_task(source.take())
                reader.add_done_callback(completed.put_nowait)
            elif call_id is END:
                state.stopped = True
            else:
                start(index, call_id)
                index += 1

    try:
        while True:
            fill()
            if suspects and not in_flight:
                if stop_confirmed(suspects, forbidden):
                    first = next(r for r in held if _stop_reason(r, proven=False) is not None)
                    assert first.error is not None
                    reason = _stop_reason(first, proven=False)
                    assert reason is not None
                    stop = RunStoppedError(reason, cause=first.error)
                    raise stop
                if state.reader is None or len(held) > suspects:  # see `doubt_width`
                    suspects = forbidden = 0
                    while held:
                        yield held.pop(0)
                        if is_queue:
                            source.done()
                    continue  # take IDs again
            if not in_flight and state.reader is None:
                return
            task = await completed.get()
            if task is _OPEN:
                retries_now = _connection_retries(client)
                if not answered and _open_early(retries_then=retries_then, retries_now=retries_now):
                    answered = True
                continue
            assert isinstance(task, asyncio.Task)
            if task is state.reader:
                state.reader = None
                if task.cancelled():  # drain() stopped the read; nothing was taken
                    continue
                call_id = task.result()  # the source's own error propagates from here
                if call_id is END:
                    state.stopped = True
                else:
                    start(index, call_id)
                    index += 1
                continue
            result = task.result()  # a bug's exception leaves the ID in the leftovers
            del in_flight[task]
            assert isinstance(result, CallResult)
            if _stop_reason(result, proven=proven) is not None:
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
        try:
            state.leftovers = _with_results(await _cancel_all(in_flight, state, index), held)
        finally:
            # Every ID taken is marked done once: the one whose result was in the
            # consumer's hands when the loop was left, and each of the leftovers.
            source.settle()
        left = state.leftovers
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


async def _cancel_all(
    in_flight: dict[asyncio.Task[CallResult], tuple[int, object]], state: _State, index: int
) -> Leftovers:
    """Cancel every request and the pending read; return what they leave behind."""
    reader, state.reader = state.reader, None
    state.stopped = True
    tasks: list[asyncio.Task[Any]] = [*in_flight]
    if reader is not None:
        tasks.append(reader)
    if not tasks:
        return Leftovers()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    results: list[CallResult] = []
    unfinished: list[tuple[int, object]] = []
    for task, (position, call_id) in in_flight.items():
        if task.cancelled() or task.exception() is not None:
            unfinished.append((position, call_id))
        else:
            results.append(task.result())
    if reader is not None and not reader.cancelled() and reader.exception() is None:
        item = reader.result()
        if item is not END:  # taken from the source, never started
            unfinished.append((index, item))
    results.sort(key=lambda r: r.index)
    unfinished.sort(key=lambda pair: pair[0])
    return Leftovers(tuple(results), tuple(unfinished))


@operation("gather_calls", gather_attributes, gather_items)
async def gather_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: SequenceNotStr[object],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    fail_fast: bool = False,
) -> list[Call | BirdError]:
    """Fetch many calls concurrently; return one outcome per ID, aligned with ``call_ids``.

    Each item is the `Call`, or the `BirdError` that ended that ID (like
    ``asyncio.gather(..., return_exceptions=True)``). A repeated ID is fetched once and
    its outcome shared at each of its positions.

    Args:
        client: The client whose limiter, retries and connections to use.
        workspace_id: The workspace, for every call.
        channel_id: The channel, for every call.
        call_ids: The IDs, ``str`` or `uuid.UUID`; invalid ones yield `InvalidIDError`.
            A single ``str`` is refused (`TypeError`): wrap one ID in a list.
        concurrency: Requests in flight at most.
        progress: Called as ``progress(done, total)`` after each position is resolved
            (``total`` is ``len(call_ids)``).
        fail_fast: Raise the first error instead of collecting it, cancelling the rest.

    Returns:
        One outcome per position of ``call_ids``: the `Call`, or the `BirdError` that
        ended that ID.

    Raises:
        RunStoppedError: Before anything succeeded, an ID failed in a way every later
            request would repeat (nothing answers at the API's address, its host does not
            resolve, 401; 403 for two IDs): the run stopped there, after one ID's
            retries, without trying the rest (see `iter_calls`). Its ``results`` is the
            list this function would return with ``None`` at each ID not tried, and its
            ``not_tried`` those IDs (as given, once each); ``reason`` says why in one
            line. With ``fail_fast``, the deciding error itself is raised instead.
        InvalidIDError: ``workspace_id`` or ``channel_id`` is not a UUID; with
            ``fail_fast``, also the first invalid call ID, before any request.
        BirdError: With ``fail_fast``, the first error.
        TypeError: ``call_ids`` is a single ``str`` or ``bytes``.
    """
    passed: object = call_ids  # type checkers already refuse a str here; callers may not
    if isinstance(passed, str | bytes | bytearray):
        raise TypeError(
            f"call_ids is a single {type(passed).__name__}, not a collection of them; "
            "wrap one ID in a list: [call_id]"
        )
    total = len(call_ids)
    results: list[Call | BirdError | None] = [None] * total
    positions: dict[str, list[int]] = {}
    unique: list[str] = []
    given: list[object] = []  # each of `unique` as the caller gave it
    done = 0
    for position, raw in enumerate(call_ids):
        try:
            key = _protocol.canonical_id("call_id", raw)
        except BirdError as exc:
            if fail_fast:
                raise
            results[position] = exc
            done += 1
            continue
        if key in positions:
            positions[key].append(position)
        else:
            positions[key] = [position]
            unique.append(key)
            given.append(raw)
    if progress is not None and done:
        progress(done, total)
    stream = iter_calls(client, workspace_id, channel_id, unique, concurrency=concurrency)

    def settle(result: CallResult) -> int:
        outcome = result.call if result.error is None else result.error
        assert outcome is not None
        at = positions[unique[result.index]]
        for position in at:
            results[position] = outcome
        return len(at)

    try:
        async for result in stream:
            if result.error is not None and fail_fast:
                raise result.error
            done += settle(result)
            if progress is not None:
                progress(done, total)
    except RunStoppedError as stop:
        if fail_fast:
            raise stop.cause from stop
        for result in stop.results:
            settle(result)
        stop.results = results
        stop.not_tried = tuple(
            given[i] for i, key in enumerate(unique) if results[positions[key][0]] is None
        )
        raise
    finally:
        await stream.aclose()
    return results  # type: ignore[return-value]  # every position is filled
