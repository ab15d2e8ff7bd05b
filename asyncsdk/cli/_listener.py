"""`Listener`, behind ``asyncsdk listen``: receive call webhooks, keep every event, enrich.

The pipeline, each stage bounded so a slow one pushes back to Bird (503, retried)::

    receiver -> sink (events.jsonl, intake queue) -> tee -> enrich_events -> SQLite
                                                        tee -> event rows -> SQLite

- The sink writes the event to ``--out`` (one JSON line, flushed to the OS, then
  fsynced with the other deliveries in flight: `EventLog`) and puts it on the intake
  queue; it refuses (503) when the queue is full, before writing. The delivery is
  acknowledged, and its id remembered, once the line is on disk; a retry of a delivery
  written but not yet on disk (its fsync outlasted the hand-off: 503) waits for that
  fsync rather than being written again. So every verified event is written once, and
  is on disk before Bird hears it arrived: a kill of the process (or of the machine)
  at any instant loses no acknowledged event.
- With ``--enrich WORKSPACE``, every event's payload is upserted into ``--db``, and
  terminal events are enriched with *Get a call* (`asyncsdk.webhooks.enrich_events`);
  the upsert rule keeps each row at the call's latest state (`CallStore`). The rows
  record how far into ``--out`` they are applied.
- On start (`asyncsdk.cli._catchup`), the ids already in ``--out`` are remembered, so
  a restart does not write a retried delivery twice; the events the database does not
  reflect yet are applied, and every finished call not enriched yet is fetched: after
  a kill at any moment, the next start completes the database.
- Stopping (SIGINT, SIGTERM) closes the port first, then finishes everything already
  acknowledged: nothing accepted is left out of the file or the database. A second
  signal (`Listener.hurry`) cancels what is left instead: it is all in the file, and
  the next start applies it.
- A stage that fails (the database locked, the disk full) stops the listener: the error
  is logged with its stage, deliveries get 503 from then on, the pipeline is cancelled
  rather than waited for, and ``listen`` exits with 1 and says what failed. So does
  enrichment whose first fetches show that none can succeed (the API unreachable, the
  credential refused: `asyncsdk.RunStoppedError`), in one line. Every event
  acknowledged is in ``--out``, and the next start applies what the database lacks.

Imports: the SDK's public API, `asyncsdk.webhooks`, aiohttp, the standard library and
the listener's `_calldb`, `_catchup`, `_eventlog` and `_listenstate`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Final

from aiohttp import web

import asyncsdk
from asyncsdk.webhooks import (
    TERMINAL_STATUSES,
    CallEvent,
    SeenDeliveries,
    WebhookReceiver,
    enrich_events,
)

from ._calldb import Applied, CallStore, Row, row
from ._catchup import event_row, first_line_digest, load_seen, replay, unenriched_events
from ._common import refusals
from ._eventlog import EventLog
from ._listenstate import (
    DEFAULT_LISTEN_PORT,
    DEFAULT_QUEUE_SIZE,
    ListenerStats,
    ListenOptions,
    StageFailure,
)

__all__ = [
    "DEFAULT_LISTEN_PORT",
    "DEFAULT_QUEUE_SIZE",
    "ListenOptions",
    "Listener",
    "ListenerStats",
    "StageFailure",
]

logger: Final = logging.getLogger("asyncsdk.cli")

#: Rows written to SQLite per transaction at most.
DB_BATCH = 500

#: One write for the database: a row to upsert, a fetch failure to note ``(error,
#: call_id)``, and for an event's row the offset of ``--out`` just after its line.
_RowItem = tuple[Row | None, tuple[str, str] | None, int | None]


class _Full(Exception):  # noqa: N818 - a signal to the receiver, never shown
    """The intake queue is full: the receiver answers 503."""


class _Stopped(Exception):  # noqa: N818 - a signal to the receiver, never shown
    """A stage of the pipeline failed: the receiver answers 503 until the port closes."""


class Listener:
    """The receiver, the file, and with a workspace the enrichment into SQLite.

    Args:
        options: What to listen on and where to write.
        client: The client to fetch details with (required with a workspace).
    """

    def __init__(
        self,
        options: ListenOptions,
        client: asyncsdk.Client | None = None,
        telemetry: asyncsdk.Telemetry | None = None,
    ) -> None:
        if options.workspace is not None and client is None:
            raise ValueError("enriching needs a client")
        self.options = options
        self.stats = ListenerStats()
        self.seen = SeenDeliveries()
        #: Events written, each with the offset of ``out`` just after its line.
        self.intake: asyncio.Queue[tuple[CallEvent, int] | None]
        self.intake = asyncio.Queue(options.queue_size)
        if telemetry is not None:  # the receiver's sink is a callable: report the queue
            telemetry.watch_queue(self.intake)
        self.receiver = WebhookReceiver(
            list(options.signing_keys),
            self._sink,
            public_url=options.public_url,
            trust_forwarded=options.trust_forwarded,
            max_body=options.max_body,
            dedupe=self.seen,
            telemetry=telemetry,
        )
        self.store = CallStore(options.db) if options.workspace is not None else None
        self._client = client
        self._log: EventLog | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.url = ""
        self.preloaded = 0
        #: Events of ``out`` applied to the database on start (caught up).
        self.replayed = 0
        #: Finished calls of earlier runs sent to enrichment (not enriched then).
        self.backlog = 0
        self._first_line: str | None = None  # the digest that identifies ``out``
        #: Request ids written to ``out`` and not yet known on disk, by the offset after
        #: their line (in file order).
        self._unsynced: dict[str, int] = {}
        #: Set when the listener should stop: a signal, or a stage that failed.
        self.stopping = asyncio.Event()
        #: The first stage that failed, if one did.
        self.failure: StageFailure | None = None
        self._hurry = asyncio.Event()

    async def _sink(self, event: CallEvent) -> None:
        if self.failure is not None:
            raise _Stopped(str(self.failure))
        log = self._log
        assert log is not None
        request_id = event.request_id
        if request_id is None or request_id not in self._unsynced:
            if self.intake.full():
                raise _Full("the pipeline is full")
            self._append(log, event)
        # else: written by an earlier attempt whose fsync outlasted the hand-off (503);
        # Bird's retry is acknowledged once the line is on disk, and not written again.
        try:
            # One fsync shared by the deliveries in flight, so a power loss loses no
            # event acknowledged; a retry meanwhile waits here too.
            await log.sync()
        except OSError as exc:
            self._fail(f"writing events to {self.options.out}", exc)
            raise
        # On disk now: a later retry of these is a duplicate (as after a restart).
        unsynced = self._unsynced
        while unsynced and (first := next(iter(unsynced.items())))[1] <= log.synced:
            del unsynced[first[0]]
            self.seen.add(first[0])

    def _append(self, log: EventLog, event: CallEvent) -> None:
        """Write ``event`` to the OS and pass it on (a kill of the process loses nothing)."""
        line = event.to_json() + b"\n"
        if self._first_line is None:
            self._first_line = first_line_digest(line)
        try:
            offset = log.append(line)
        except OSError as exc:  # the disk is full: no later line can be written either
            self._fail(f"writing events to {self.options.out}", exc)
            raise
        self.intake.put_nowait((event, offset))
        self.stats.written += 1
        if event.request_id:
            self._unsynced[event.request_id] = offset

    async def start(self) -> None:
        """Open the file (and database), start the pipeline, then open the port.

        If any of it fails (the port is in use, the database cannot be opened), what was
        opened or started is closed again before the error propagates.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        options = self.options
        # Locked first: one listener per events file (another start would truncate a
        # line this one is writing, and their offsets would interleave).
        self._log = EventLog(options.out)
        self.preloaded = load_seen(options.out, self.seen)
        if self.store is not None:
            await self.store.open()
            self.replayed, self._first_line = await replay(options.out, self.store)
        if self.store is not None:
            rows: asyncio.Queue[_RowItem | None] = asyncio.Queue(options.queue_size)
            to_enrich: asyncio.Queue[CallEvent | None] = asyncio.Queue(options.concurrency)
            client = self._client
            self._watch(self._tee(rows, to_enrich), "passing events on")
            assert client is not None
            self._watch(self._enrich(rows, to_enrich), f"fetching calls from {client.base_url}")
            self._watch(self._write(rows), f"writing rows to {options.db}")
        else:
            self._watch(self._discard(), "reading the intake queue")
        app = web.Application(client_max_size=options.max_body)
        app.router.add_route("*", options.path, self.receiver.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, options.host, options.port)
        await site.start()
        sockets = self._runner.addresses
        host, port = sockets[0][:2] if sockets else (options.host, options.port)
        self.url = f"http://{host}:{port}{options.path}"

    def _watch(self, stage: Coroutine[object, object, None], what: str) -> None:
        """Run a stage of the pipeline; if it fails, say so and stop the listener."""
        task = asyncio.create_task(stage, name=f"asyncsdk-listen: {what}")
        self._tasks.append(task)

        def ended(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and (error := task.exception()) is not None:
                self._fail(what, error)

        task.add_done_callback(ended)

    def _fail(self, what: str, error: BaseException) -> None:
        """Record the first failure, say so, and stop the listener."""
        if self.failure is None:
            self.failure = StageFailure(what, error)
        logger.error(
            "listen: %s failed, stopping: %s: %s (%d events written to %s; deliveries "
            "get 503 until the port closes)",
            what,
            type(error).__name__,
            error,
            self.stats.written,
            self.options.out,
        )
        logger.debug("listen: %s failed", what, exc_info=error)
        self.stopping.set()

    async def stop(self) -> None:
        """Close the port, then finish every event already acknowledged, then close.

        If a stage failed (`failure`), or fails meanwhile, what is left in the pipeline
        is cancelled instead: it could not be finished, and waiting for it would hang.
        """
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._end_pipeline()
        if self._log is not None:
            await self._log.aclose()
            self._log = None
        if self.store is not None:
            await self.store.close()

    def hurry(self) -> None:
        """Make `stop` cancel what is left of the pipeline instead of finishing it.

        For a second Ctrl-C, when finishing would take too long (a slow API, a large
        backlog). Nothing acknowledged is lost: every event is in ``out``, and the next
        start applies and enriches what the database lacks.
        """
        self._hurry.set()

    @property
    def hurried(self) -> bool:
        """Whether `hurry` was called."""
        return self._hurry.is_set()

    async def _end_pipeline(self) -> None:
        """Put the end on the intake and wait for every stage to finish.

        Unless a stage fails, or `hurry` is called: then what is left is cancelled.
        """
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        end = asyncio.ensure_future(self.intake.put(None))  # waits while the intake is full
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while self.failure is None and not self._hurry.is_set():
                running = [f for f in (end, *tasks) if not f.done()]
                if not any(task in running for task in tasks):
                    break
                await asyncio.wait((*running, hurry), return_when=asyncio.FIRST_COMPLETED)
                if any(t.done() and not t.cancelled() and t.exception() for t in tasks):
                    break  # its done-callback records the failure
        finally:
            for future in (end, hurry, *tasks):
                future.cancel()
            await asyncio.gather(end, hurry, *tasks, return_exceptions=True)

    async def _discard(self) -> None:
        while await self.intake.get() is not None:
            pass

    async def _tee(
        self, rows: asyncio.Queue[_RowItem | None], to_enrich: asyncio.Queue[CallEvent | None]
    ) -> None:
        # The finished calls a previous run left unenriched go to enrichment beside the
        # new events (the database says which: those events are applied already).
        backlog = asyncio.create_task(self._enrich_backlog(to_enrich))

        def ended(task: asyncio.Task[None]) -> None:  # stops the listener now, not at the end
            if not task.cancelled() and (error := task.exception()) is not None:
                self._fail(f"reading {self.options.db} for calls not enriched", error)

        backlog.add_done_callback(ended)
        try:
            while (item := await self.intake.get()) is not None:
                event, offset = item
                await rows.put((event_row(event), None, offset))
                await to_enrich.put(event)
            await asyncio.wait((backlog,))  # its failure is reported by ended()
        finally:
            backlog.cancel()
        await to_enrich.put(None)

    async def _enrich_backlog(self, to_enrich: asyncio.Queue[CallEvent | None]) -> None:
        assert self.store is not None
        async for event in unenriched_events(self.store, TERMINAL_STATUSES):
            self.backlog += 1
            await to_enrich.put(event)

    async def _enrich(
        self, rows: asyncio.Queue[_RowItem | None], to_enrich: asyncio.Queue[CallEvent | None]
    ) -> None:
        assert self._client is not None
        assert self.options.workspace is not None
        stream = enrich_events(
            self._client,
            to_enrich,
            workspace_id=self.options.workspace,
            channel_id=self.options.channel,
            concurrency=self.options.concurrency,
        )
        async with stream:
            async for event, outcome in stream:
                if isinstance(outcome, asyncsdk.Call):
                    self.stats.enriched += 1
                    await rows.put((row(outcome, source="api", event=event.event), None, None))
                else:
                    self.stats.fetch_failed += 1
                    note = self.stats.last_failure = f"{type(outcome).__name__}: {outcome}"
                    await rows.put((None, (note, event.call_id), None))
        await rows.put(None)

    async def _write(self, rows: asyncio.Queue[_RowItem | None]) -> None:
        assert self.store is not None
        ended = False
        while not ended:
            batch = [await rows.get()]
            while len(batch) < DB_BATCH and not rows.empty():
                batch.append(rows.get_nowait())
            ended = batch[-1] is None
            items = [item for item in batch if item is not None]
            upserts = [upsert for upsert, _, _ in items if upsert is not None]
            errors = [error for _, error, _ in items if error is not None]
            offsets = [offset for _, _, offset in items if offset is not None]
            applied = None
            if offsets and self._first_line is not None:
                # Event rows come in the file's order: every line up to here is applied.
                applied = Applied(max(offsets), self._first_line)
            await self.store.write(upserts, errors, applied)
            self.stats.rows += len(upserts)

    def progress_line(self) -> str:
        """Events written and their rate, queue depth, enrichment, refusals."""
        stats, receiver = self.stats, self.receiver.stats
        rate = stats.rate_now(time.monotonic())
        parts = [
            f"events {stats.written} ({rate:.0f}/s)",
            f"queue {self.intake.qsize()}/{self.options.queue_size}",
        ]
        if self.store is not None:
            parts.append(f"enriched {stats.enriched} failed {stats.fetch_failed}")
        parts.append(f"duplicates {receiver.duplicates} busy(503) {receiver.busy}")
        parts.append(refusals(receiver.refused))
        return "  ".join(parts)
