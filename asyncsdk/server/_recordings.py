"""The embedded server's recordings and transcriptions endpoints (Bird's side of the media).

Routes (each behind the same method, credential, rate-limit and fault steps as *Get a
call*, see `asyncsdk.server._app`; they count against the workspace's GET quota):

* ``GET /workspaces/{ws}/recordings``: the workspace's recordings, newest first
  (``createdAt``, then id), ``limit`` 1..99 (default 10), ``pageToken``, and the filters
  ``channelId``, ``sourceId``, ``id`` (the recording's id or its call's: the reference
  calls it "the ID for the call"), ``direction``, ``status``, ``from``, ``to``,
  ``startAt`` / ``endAt`` over ``createdAt`` (read as ``ServerConfig.time_precision``,
  ``start_inclusive`` and ``end_inclusive`` say, as the calls log): a sharded listing
  works as the calls log's; ``ServerConfig.unlisted``, ``unlisted_until`` and
  ``offset_tokens`` apply as to the calls log (the recordings of calls not created yet
  are not listed). Recordings of ongoing calls are left out (they are the
  call's);
* ``GET /workspaces/{ws}/recordings/{id}``: the metadata (200), or a 307 to the media
  when ``RecordingsConfig.metadata_redirect`` says so (by default when ``Accept``
  cannot take ``application/json``; no ``Accept`` can);
* ``GET /workspaces/{ws}/recordings/{id}.mp3``: 307, ``Location:`` a fresh presigned
  URL of the object store; 404 for a recording without media (not available);
* ``GET /workspaces/{ws}/transcriptions``: ``limit`` 1..99 (default 10), ``pageToken``;
* ``GET /workspaces/{ws}/transcriptions/{id}``: metadata, or 307 to its JSON as above;
* ``GET /workspaces/{ws}/transcriptions/{id}.{json,srt,vtt,txt}``: 307 to that file;
* the call-scoped ``.../channels/{ch}/calls/{call}/recordings[/{id}]``, answered by
  `asyncsdk.server._callrecordings`.

A malformed id or parameter is 422, an unknown workspace, channel, call, recording,
transcription or format 404, with the API's JSON error body.

Imports: aiohttp, msgspec (through the recording set), the server's own modules and
the standard library.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiMapping

from asyncsdk.server._callrecordings import (
    CALL_RECORDING_ROUTE,
    CALL_RECORDINGS_ROUTE,
    CallRecordingsApi,
    invalid_reply,
    page_reply,
)
from asyncsdk.server._config import ServerConfig
from asyncsdk.server._listing import parse_window, scan_page, window_indices
from asyncsdk.server._objectstore import ObjectStore
from asyncsdk.server._params import (
    InvalidParameterError,
    PageTokens,
    parse_limit,
    parse_text,
    parse_uuid,
    query_digest,
)
from asyncsdk.server._recordingset import TRANSCRIPT_FORMATS, RecordingSet
from asyncsdk.server._replies import Reply, error_reply

__all__ = [
    "CALL_RECORDINGS_ROUTE",
    "CALL_RECORDING_ROUTE",
    "MAX_RECORDINGS_PAGE_SIZE",
    "RECORDINGS_ROUTE",
    "RECORDING_ROUTE",
    "TRANSCRIPTIONS_ROUTE",
    "TRANSCRIPTION_ROUTE",
    "RecordingsApi",
    "redirects",
    "script_id",
]

RECORDINGS_ROUTE = "/workspaces/{workspaceId}/recordings"
RECORDING_ROUTE = "/workspaces/{workspaceId}/recordings/{recordingId}"
TRANSCRIPTIONS_ROUTE = "/workspaces/{workspaceId}/transcriptions"
TRANSCRIPTION_ROUTE = "/workspaces/{workspaceId}/transcriptions/{transcriptionId}"
#: Largest ``limit`` of the recordings and transcriptions lists.
MAX_RECORDINGS_PAGE_SIZE = 99
_DEFAULT_PAGE_SIZE = 10
_MAX_CALL_PAGE_SIZE = 1000
_MAX_TEXT_LENGTH = 100
_JSON_RANGES = frozenset(("application/json", "application/*", "*/*"))

#: Answers one request (after the shared steps passed).
Answer = Callable[[web.Request], Reply]


def redirects(mode: str, accept: str | None) -> bool:
    """Whether a metadata request answers 307 to the media (``mode``: metadata_redirect).

    With ``"accept"``, it does when an ``Accept`` header is sent and none of its media
    ranges with a non-zero ``q`` takes ``application/json``.
    """
    if mode != "accept":
        return mode == "always"
    if accept is None or not accept.strip():
        return False
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        zero = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if media.lower() in _JSON_RANGES and not zero:
            return False
    return True


def script_id(ids: Mapping[str, str]) -> str:
    """Return the id scripts for a request are filed under: its recording or transcription."""
    item = ids.get("recordingId") or ids.get("transcriptionId") or ""
    return item.partition(".")[0]


@dataclass(frozen=True, slots=True)
class _Query:
    """A parsed, checked recordings query."""

    digest: bytes
    limit: int
    window: range
    statuses: frozenset[str]
    directions: frozenset[str]
    from_: str | None
    to: str | None


@dataclass(frozen=True, slots=True)
class _Item:
    """What a get of one recording or transcription needs to know of its kind."""

    name: str  # the path parameter
    what: str  # for messages
    formats: tuple[str, ...]  # the file suffixes; the first is the metadata's file
    index: Callable[[uuid.UUID], int | None]
    key: Callable[[int, str], str]


def _found(reply_body: bytes) -> Reply:
    return Reply(200, reply_body)


class RecordingsApi:
    """Answers the recordings and transcriptions endpoints; one per server.

    Args:
        config: The server's configuration (window rules, seed).
        recordings: The recordings and transcriptions served.
        store: The object store the media redirects point to.
        known_workspace: Whether a workspace id is served.
    """

    def __init__(
        self,
        config: ServerConfig,
        recordings: RecordingSet,
        store: ObjectStore,
        known_workspace: Callable[[uuid.UUID], bool],
    ) -> None:
        self._config = config
        self._set = recordings
        self._store = store
        self._known_workspace = known_workspace
        dataset = recordings.dataset
        # The recordings of calls not created yet (`ServerConfig.unlisted`) are not
        # listed either: a live workspace for sharded recordings listings.
        self._answered = 0  # list requests answered, for ``unlisted_until``
        self._unlisted = frozenset(
            index for call_id in config.unlisted if (index := dataset.index(call_id)) is not None
        )
        self._tokens = PageTokens(
            hashlib.sha256(
                f"asyncsdk.server.recordings-token:{config.seed}:{dataset.seed}".encode()
            ).digest()
        )
        self._calls = CallRecordingsApi(recordings, self._tokens, known_workspace)

    def routes(self) -> list[tuple[str, Answer]]:
        """Return each route with the function answering it."""
        return [
            (RECORDINGS_ROUTE, self.list_recordings),
            (RECORDING_ROUTE, self.get_recording),
            (TRANSCRIPTIONS_ROUTE, self.list_transcriptions),
            (TRANSCRIPTION_ROUTE, self.get_transcription),
            (CALL_RECORDINGS_ROUTE, self._calls.list_call_recordings),
            (CALL_RECORDING_ROUTE, self._calls.get_call_recording),
        ]

    # --- shared checks ----------------------------------------------------------------

    def _workspace(self, ids: Mapping[str, str]) -> Reply | None:
        """Return a 422 or 404 for the path's workspace, or ``None`` if it is served."""
        try:
            workspace = parse_uuid("workspaceId", ids["workspaceId"])
        except InvalidParameterError as exc:
            return invalid_reply(exc)
        if not self._known_workspace(workspace):
            return error_reply(404, "workspace not found")
        return None

    def _media(self, index: int | None, key: str | None, what: str) -> Reply:
        if index is None or key is None:
            return error_reply(404, f"{what} not found")
        if self._store.get(key) is None:
            return error_reply(404, f"{what} has no media (it is not available)")
        return Reply(307, b"", {"Location": self._store.presign(key)})

    # --- recordings -------------------------------------------------------------------

    def list_recordings(self, request: web.Request) -> Reply:
        """Answer ``GET /workspaces/{ws}/recordings``."""
        refused = self._workspace(request.match_info)
        if refused is not None:
            return refused
        try:
            query = self._parse(request.match_info, request.query)
            position = self._tokens.position(request.query.get("pageToken"), query.digest)
        except InvalidParameterError as exc:
            return invalid_reply(exc)
        # As the calls list: `unlisted` hides recordings until the `unlisted_until`-th
        # list request, and `offset_tokens` makes a token count what was served before.
        self._answered += 1
        until = self._config.unlisted_until
        hidden = self._unlisted if until is None or self._answered < until else frozenset()

        def keep(index: int) -> bool:
            return index not in hidden and self._keeps(query, index)

        if self._config.offset_tokens:
            offset = position or 0
            listed = (index for index in reversed(query.window) if keep(index))
            found = list(itertools.islice(listed, offset, offset + query.limit + 1))
            following = offset + query.limit if len(found) > query.limit else None
            found = found[: query.limit]
        else:
            end = query.window.stop if position is None else position
            found, following = scan_page(query.window, end, query.limit, keep)
        bodies = [self._recording(index) for index in found]
        token = None if following is None else self._tokens.make(query.digest, following)
        return page_reply(bodies, token)

    def _keeps(self, query: _Query, index: int) -> bool:
        recordings = self._set
        if recordings.active(index):
            return False
        facts = recordings.facts(index)
        return (
            (not query.statuses or recordings.status(index) in query.statuses)
            and (not query.directions or facts.direction in query.directions)
            and (query.from_ is None or facts.from_ == query.from_)
            and (query.to is None or facts.to == query.to)
        )

    def _recording(self, index: int) -> bytes:
        recordings = self._set
        url = None
        if recordings.available(index):
            url = self._store.presign(recordings.media_key(index))
        return recordings.recording(index, url)

    def _parse(self, ids: Mapping[str, str], params: MultiMapping[str]) -> _Query:
        dataset = self._set.dataset
        limit = parse_limit(params.get("limit"), _DEFAULT_PAGE_SIZE, MAX_RECORDINGS_PAGE_SIZE)
        start, end = parse_window(params, self._config.time_precision)
        window = window_indices(self._config, dataset, start, end)
        sets = {name: frozenset(params.getall(name, ())) for name in ("status", "direction")}
        single = {
            name: parse_text(name, params[name], _MAX_TEXT_LENGTH)
            for name in ("from", "to")
            if name in params
        }
        uuids = {
            name: frozenset(parse_uuid(name, value) for value in params.getall(name, ()))
            for name in ("channelId", "sourceId", "id")
        }
        if uuids["channelId"] and dataset.channel_id not in uuids["channelId"]:
            window = range(0)
        for name in ("sourceId", "id"):
            for value in uuids[name]:
                index = dataset.index(value)
                if name == "id" and index is None:
                    index = self._set.index(value)
                window = (
                    range(0) if index is None or index not in window else range(index, index + 1)
                )
        canonical = ["recordings", str(parse_uuid("workspaceId", ids["workspaceId"]))]
        canonical += [
            f"{n}=" + ",".join(sorted(map(str, v))) for n, v in sorted({**sets, **uuids}.items())
        ]
        canonical += [f"{name}={value}" for name, value in sorted(single.items())]
        canonical += [f"startAt={start.isoformat() if start else '-'}"]
        canonical += [f"endAt={end.isoformat() if end else '-'}"]
        return _Query(
            digest=query_digest(canonical),
            limit=limit,
            window=window,
            statuses=sets["status"],
            directions=sets["direction"],
            from_=single.get("from"),
            to=single.get("to"),
        )

    def get_recording(self, request: web.Request) -> Reply:
        """Answer ``GET /workspaces/{ws}/recordings/{id}`` and ``{id}.mp3``."""
        recordings = self._set
        return self._get(
            request,
            _Item("recordingId", "recording", ("mp3",), recordings.index, recordings.media_key),
            self._recording,
        )

    def _get(self, request: web.Request, item: _Item, metadata: Callable[[int], bytes]) -> Reply:
        """Answer a get of one recording or transcription: metadata, or 307 to a file."""
        refused = self._workspace(request.match_info)
        if refused is not None:
            return refused
        text, dot, fmt = request.match_info[item.name].partition(".")
        try:
            item_id = parse_uuid(item.name, text)
        except InvalidParameterError as exc:
            return invalid_reply(exc)
        index = item.index(item_id)
        if index is not None and self._set.active(index):
            index = None  # the call's, not yet the workspace's
        if dot and fmt not in item.formats:
            formats = ", ".join("." + f for f in item.formats)
            return error_reply(404, f"no {item.what} format {fmt!r}; use {formats}")
        mode = self._set.config.metadata_redirect
        if dot or redirects(mode, request.headers.get("Accept")):
            key = None if index is None else item.key(index, fmt or item.formats[0])
            return self._media(index, key, item.what)
        if index is None:
            return error_reply(404, f"{item.what} not found")
        return _found(metadata(index))

    # --- transcriptions ---------------------------------------------------------------

    def list_transcriptions(self, request: web.Request) -> Reply:
        """Answer ``GET /workspaces/{ws}/transcriptions``."""
        refused = self._workspace(request.match_info)
        if refused is not None:
            return refused
        recordings = self._set
        params = request.query
        try:
            limit = parse_limit(params.get("limit"), _DEFAULT_PAGE_SIZE, MAX_RECORDINGS_PAGE_SIZE)
            digest = query_digest(["transcriptions", request.match_info["workspaceId"].lower()])
            position = self._tokens.position(params.get("pageToken"), digest)
        except InvalidParameterError as exc:
            return invalid_reply(exc)
        window = range(recordings.dataset.size)
        found, following = scan_page(
            window,
            window.stop if position is None else position,
            limit,
            lambda index: recordings.transcribed(index) and not recordings.active(index),
        )
        bodies = [self._transcription(index) for index in found]
        token = None if following is None else self._tokens.make(digest, following)
        return page_reply(bodies, token)

    def _transcription(self, index: int) -> bytes:
        recordings = self._set
        url = None
        if recordings.available(index):
            url = self._store.presign(recordings.transcript_key(index, "json"))
        return recordings.transcription(index, url)

    def get_transcription(self, request: web.Request) -> Reply:
        """Answer ``GET /workspaces/{ws}/transcriptions/{id}`` and ``{id}.{format}``."""
        recordings = self._set
        item = _Item(
            "transcriptionId",
            "transcription",
            tuple(TRANSCRIPT_FORMATS),
            recordings.transcription_index,
            recordings.transcript_key,
        )
        return self._get(request, item, self._transcription)
