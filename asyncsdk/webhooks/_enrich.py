"""From call events to call details: `enrich_events` fetches what the events announce.

An event says a call changed status; its payload may lack fields *Get a call* has.
`enrich_events` reads events (typically from the queue a `WebhookReceiver` fills),
fetches the full call with the public `asyncsdk.Client.get_call` for the statuses
asked for, and yields each event with its call or the error that ended the fetch.

Rules:

- **Where the IDs come from**: the call ID and the channel ID are in the payload
  (``id``, ``channelId``); an event carries no workspace ID, so the workspace is a
  parameter (a subscription belongs to one workspace). A payload without
  ``channelId`` uses the ``channel_id`` parameter; without one, the call is looked up
  in the workspace's calls log by its ID (``list_call_log(call_id=...)``, a request
  like *Get a call*, answered with the same call), and a call the log does not have
  yields `ChannelUnknownError`, which says to pass the channel.
- **Stopping when every fetch would fail**: until an answer proves access (a call
  fetched, or an answer about the request such as a 404: `asyncsdk._giveup`'s rule,
  as for the bulk helpers), a
  failure that every later request would repeat (nothing answers at the API's
  address, its host does not resolve, the credential is refused: see
  `asyncsdk.RunStoppedError`) ends the stream with `RunStoppedError` instead of one
  error per event. Events not read stay in the source; those taken are in
  `EventStream.leftovers`. After that, such failures are yielded per event.
- **Each call fetched once**: events naming a call whose fetch for the same status is
  in flight share that fetch; once a call was fetched in a terminal status (it no
  longer changes), later events for it reuse that call without a request (the last
  ``remember`` calls are kept).
- **Backpressure**: at most ``concurrency`` events are held (being fetched, or waiting
  for the consumer); no event is read while the consumer's loop body runs. A bounded
  queue in front then fills, and the receiver answers 503 until there is room.
- **Nothing lost silently**: closing the stream early cancels the fetches in flight;
  `EventStream.leftovers` lists the events taken but not yielded.

Telemetry: with the client's telemetry on, each fetch runs in a ``webhook.enrich``
span linked to the ``webhook.receive`` span of the delivery that started it (by its
request id; across processes, `asyncsdk.Telemetry.link_delivery` with the
``traceparent`` carried in the entry).

Imports: the standard library, the core modules the bulk helpers use (`client`,
`config`, `errors`, `models`, `telemetry`, `_giveup`, `_protocol`, `_pump`, `_source`) and the
webhooks' `_errors` and `_events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Collection,
    Iterable,
)
from typing import Final

from asyncsdk._giveup import give_up_reason, proves_access
from asyncsdk._protocol import canonical_id
from asyncsdk._pump import Feed, Stream, check_concurrency
from asyncsdk._source import Source
from asyncsdk.client import Client
from asyncsdk.config import DEFAULT_CONCURRENCY
from asyncsdk.errors import BirdError, ConfigurationError, RunStoppedError
from asyncsdk.models import Call
from asyncsdk.telemetry import span_for
from asyncsdk.telemetry._attributes import enrich_attributes
from asyncsdk.webhooks._errors import ChannelUnknownError
from asyncsdk.webhooks._events import TERMINAL_STATUSES, CallEvent

__all__ = ["DEFAULT_REMEMBER", "EnrichedEvent", "EventStream", "enrich_events"]

logger: Final = logging.getLogger("asyncsdk")

DEFAULT_REMEMBER: Final = 10_000
"""Calls fetched in a terminal status kept by `enrich_events`, so repeats cost no request."""

#: One event and its call, or the error that ended the fetch.
EnrichedEvent = tuple[CallEvent, Call | BirdError]

#: Pages of the calls log read at most to find one call by its ID (one is expected).
_LOOKUP_PAGES: Final = 3

#: Where events come from.
EventSource = (
    AsyncIterable[CallEvent]
    | Iterable[CallEvent]
    | asyncio.Queue[CallEvent]
    | asyncio.Queue[CallEvent | None]
)


class EventStream(Stream[EnrichedEvent, tuple[CallEvent, ...]]):
    """The events of `enrich_events` with their calls, as fetches complete.

    Iterate it with ``async for``; `drain` stops reading events (those taken are still
    fetched and yielded); `aclose` (or leaving ``async with``) cancels the fetches in
    flight, and `leftovers` then lists the events taken but not yielded.
    """

    __slots__ = ()


def enrich_events(
    client: Client,
    events: EventSource,
    *,
    workspace_id: str | uuid.UUID,
    channel_id: str | uuid.UUID | None = None,
    statuses: Collection[str] | None = TERMINAL_STATUSES,
    concurrency: int = DEFAULT_CONCURRENCY,
    remember: int = DEFAULT_REMEMBER,
) -> EventStream:
    """Fetch the calls that events announce; yield ``(event, Call | BirdError)``.

    Args:
        client: The client whose limiter, retries and connections to use.
        events: Call events from an `asyncio.Queue` (ends with ``None``, or
            ``queue.shutdown()`` on 3.13+), an async iterable or an iterable. Each
            item taken from a queue is marked ``task_done`` exactly once, however the
            stream ends: ``queue.join()`` never waits for an item a closed stream took.
        workspace_id: The workspace of the subscription (events do not carry it).
        channel_id: The channel, for payloads without ``channelId``. Without it, such
            a call is looked up in the workspace's calls log by its ID; one the log
            does not have yields `ChannelUnknownError`.
        statuses: The statuses worth a fetch (default: the terminal ones); events with
            other statuses are skipped, not yielded. ``None`` fetches for every event.
        concurrency: Events held at most: fetches in flight plus results waiting.
        remember: Calls fetched in a terminal status kept, to answer repeats with no
            request; 0 keeps none.

    Returns:
        An `EventStream` of ``(event, call_or_error)``, in completion order.

    The stream raises `asyncsdk.RunStoppedError` (``reason``, ``cause``) when the first
    fetches fail in a way every later one would (refused connection, unresolvable
    host, refused certificate, 401, 403) before any answer proved access (a call, or a
    404 or another answer about the request itself): it stops reading,
    events not read stay in ``events``, and `EventStream.leftovers` lists those taken
    but not yielded (hand them to the next run). Once access is proven, such
    failures are yielded with their events, like any other.

    Raises:
        InvalidIDError: ``workspace_id`` is not a UUID (before anything is read).
        ConfigurationError: ``concurrency`` or ``remember`` is out of range.
        TypeError: ``events`` is not a source of events, or yields something else.
    """
    workspace = canonical_id("workspace_id", workspace_id)
    channel = canonical_id("channel_id", channel_id) if channel_id is not None else None
    check_concurrency(concurrency)
    if isinstance(remember, bool) or not isinstance(remember, int) or remember < 0:
        raise ConfigurationError(f"remember must be an int >= 0, got {remember!r}")
    wanted = None if statuses is None else frozenset(statuses)
    feed: Feed[tuple[CallEvent, ...]] = Feed(Source(events, what="events"), ())
    agen = _enrich(client, feed, workspace, channel, wanted, concurrency, remember)
    return EventStream(agen, feed)


class _Fetch:
    __slots__ = ("events", "key", "task")

    def __init__(self, key: tuple[str, str | None], task: asyncio.Task[Call | BirdError]) -> None:
        self.key = key
        self.task = task
        self.events: list[CallEvent] = []


async def _enrich(
    client: Client,
    feed: Feed[tuple[CallEvent, ...]],
    workspace: str,
    channel: str | None,
    wanted: frozenset[str] | None,
    concurrency: int,
    remember: int,
) -> AsyncGenerator[EnrichedEvent, None]:
    source = feed.source
    completed = feed.completed
    fetches: dict[tuple[str, str | None], _Fetch] = {}
    by_task: dict[asyncio.Task[Call | BirdError], _Fetch] = {}
    ready: deque[EnrichedEvent] = deque()
    final: OrderedDict[str, Call] = OrderedDict()
    held = 0  # events taken and not yet yielded

    proven = False  # an answer showed that the endpoint and the credential work

    async def fetch(channel_id: str | None, call_id: str, event: CallEvent) -> Call | BirdError:
        attrs = enrich_attributes(workspace, channel_id, call_id, event.payload.status)
        with span_for(client, "webhook.enrich", attrs, (event.request_id,)):
            try:
                if channel_id is None:
                    return await _look_up(client, workspace, call_id)
                return await client.get_call(workspace, channel_id, call_id)
            except BirdError as exc:
                return exc

    def take(event: object) -> None:
        nonlocal held
        if not isinstance(event, CallEvent):
            raise TypeError(f"events must be CallEvent objects, got {type(event).__name__}")
        if wanted is not None and event.payload.status not in wanted:
            source.done()
            return
        held += 1
        call_id = str(event.payload.id)
        known = final.get(call_id)
        if known is not None:
            ready.append((event, known))
            return
        key = (call_id, event.payload.status)
        running = fetches.get(key)
        if running is not None:
            running.events.append(event)
            return
        payload_channel = event.payload.channel_id
        channel_id = str(payload_channel) if payload_channel is not None else channel
        fetching = fetch(channel_id, call_id, event)
        task: asyncio.Task[Call | BirdError] = asyncio.create_task(fetching)
        running = fetches[key] = by_task[task] = _Fetch(key, task)
        running.events.append(event)
        task.add_done_callback(completed.put_nowait)

    def room() -> bool:
        return held < concurrency

    cancelled = False
    try:
        while True:
            while ready:
                item = ready.popleft()
                held -= 1
                yield item  # closing the stream after a break or an error raises here
                source.done()
            feed.fill(room, take)
            if ready:
                continue
            if not fetches and feed.reader is None:
                return
            task = await completed.get()
            if feed.read_done(task, take):
                continue
            done = by_task[task]  # type: ignore[index]
            outcome = done.task.result()  # a bug's exception leaves its events in the leftovers
            if isinstance(outcome, Call) or proves_access(outcome):
                proven = True
            elif not proven and (reason := give_up_reason(outcome)) is not None:
                # Its events stay in by_task: the leftovers, with those not yielded.
                raise RunStoppedError(reason, cause=outcome)
            del by_task[done.task], fetches[done.key]
            if remember and isinstance(outcome, Call) and outcome.status in TERMINAL_STATUSES:
                final[done.key[0]] = outcome
                if len(final) > remember:
                    final.popitem(last=False)
            ready.extend((event, outcome) for event in done.events)
    except asyncio.CancelledError:
        cancelled = True
        raise
    except RunStoppedError as exc:
        logger.warning("call enrichment stopped: %s", exc.reason)
        raise
    finally:
        # Every event taken is marked done once (`Feed.cancel`): the one in the
        # consumer's hands when the loop was left, each of the leftovers, and an item
        # refused as not an event.
        unread = await feed.cancel(by_task)
        left = [pair[0] for pair in ready]
        left += [event for running in by_task.values() for event in running.events]
        if isinstance(unread, CallEvent):
            left.append(unread)
        feed.leftovers = tuple(left)
        if left:
            (logger.info if cancelled else logger.debug)(
                "enrich_events %s with %d events not yielded; EventStream.leftovers lists them",
                "cancelled" if cancelled else "closed",
                len(left),
            )
        await source.aclose()


async def _look_up(client: Client, workspace: str, call_id: str) -> Call:
    """Find a call by its ID in the workspace's calls log, for an event without a channel.

    Raises:
        ChannelUnknownError: The log does not have the call (within a few pages: a page
            may be empty before the next, and an API that ignored the filter must not
            be read to its end).
        BirdError: The listing failed.
    """
    pager = client.list_call_log(workspace, call_id=call_id)
    async with contextlib.aclosing(pager.pages()) as pages:
        read = 0
        async for page in pages:
            for call in page.results:
                if str(call.id) == call_id:
                    return call
            read += 1
            if read >= _LOOKUP_PAGES:
                break
    raise ChannelUnknownError(call_id)
