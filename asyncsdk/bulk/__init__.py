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

The modules: ``_results`` (`CallResult`, `Leftovers`, `CallStream`), ``_opening`` (no
I/O: how wide a run is and when it may stop), ``_iterate`` (`iter_calls` and its loop)
and ``_gather`` (`gather_calls`, on `iter_calls`).

Imports: the standard library, msgspec, and the core modules `client`, `config`,
`errors`, `models`, `_giveup`, `_protocol`, `_pump` and `_source`.
"""

from ._gather import gather_calls
from ._iterate import iter_calls
from ._opening import OPEN_AFTER as OPEN_AFTER
from ._results import CallResult, CallStream, Leftovers, SequenceNotStr

__all__ = ["CallResult", "CallStream", "Leftovers", "SequenceNotStr", "gather_calls", "iter_calls"]
