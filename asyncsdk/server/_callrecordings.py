"""The call-scoped recordings endpoints: the recording of an ongoing call.

* ``GET /workspaces/{ws}/channels/{ch}/calls/{call}/recordings``: a page with the
  recording of an ongoing call (``limit`` 1..1000, default 10; a ``pageToken`` is checked
  though none is ever handed out); for another call an empty page or 404
  (``RecordingsConfig.ended_call_recordings``);
* ``GET .../calls/{call}/recordings/{id}``: that recording, while the call is ongoing.

Malformed path ids are 422, an unknown workspace, channel, call or recording 404.

Imports: aiohttp, the server's own modules and the standard library.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from aiohttp import web

from asyncsdk.server._params import InvalidParameterError, PageTokens, parse_limit, query_digest
from asyncsdk.server._recordingset import RecordingSet
from asyncsdk.server._replies import Reply, error_reply, path_id_refusal

__all__ = [
    "CALL_RECORDINGS_ROUTE",
    "CALL_RECORDING_ROUTE",
    "CallRecordingsApi",
    "invalid_reply",
    "page_reply",
]

CALL_RECORDINGS_ROUTE = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/recordings"
CALL_RECORDING_ROUTE = CALL_RECORDINGS_ROUTE + "/{recordingId}"
_DEFAULT_PAGE_SIZE = 10
_MAX_CALL_PAGE_SIZE = 1000


def page_reply(bodies: list[bytes], token: str | None) -> Reply:
    """Return a page of ``bodies`` (JSON objects), with ``token`` if more pages follow."""
    body = b'{"results":[' + b",".join(bodies) + b"]"
    if token is not None:
        body += b',"nextPageToken":"' + token.encode() + b'"'
    return Reply(200, body + b"}")


def invalid_reply(exc: InvalidParameterError) -> Reply:
    """Return the 422 that refuses a query parameter."""
    return error_reply(422, str(exc), {exc.name: [exc.problem]})


class CallRecordingsApi:
    """Answers the call-scoped recordings endpoints.

    Args:
        recordings: The recordings served.
        tokens: The page tokens of the recordings lists.
        known_workspace: Whether a workspace id is served.
    """

    def __init__(
        self,
        recordings: RecordingSet,
        tokens: PageTokens,
        known_workspace: Callable[[uuid.UUID], bool],
    ) -> None:
        self._set = recordings
        self._tokens = tokens
        self._known_workspace = known_workspace

    def _call_index(self, ids: Mapping[str, str]) -> int | Reply:
        """Return the index of the path's call, or the 422 / 404 that refuses it."""
        names = ("workspaceId", "channelId", "callId", "recordingId")
        refusal = path_id_refusal(ids, [name for name in names if name in ids])
        if refusal is not None:
            return refusal
        dataset = self._set.dataset
        if not self._known_workspace(uuid.UUID(ids["workspaceId"])):
            return error_reply(404, "workspace not found")
        if uuid.UUID(ids["channelId"]) != dataset.channel_id:
            return error_reply(404, "channel not found")
        index = dataset.index(ids["callId"])
        if index is None:
            return error_reply(404, "call not found")
        return index

    def list_call_recordings(self, request: web.Request) -> Reply:
        """Answer ``GET .../channels/{ch}/calls/{call}/recordings``."""
        index = self._call_index(request.match_info)
        if isinstance(index, Reply):
            return index
        params = request.query
        try:
            parse_limit(params.get("limit"), _DEFAULT_PAGE_SIZE, _MAX_CALL_PAGE_SIZE)
            digest = query_digest(["call-recordings", request.match_info["callId"].lower()])
            self._tokens.position(params.get("pageToken"), digest)
        except InvalidParameterError as exc:
            return invalid_reply(exc)
        if self._set.active(index):
            return page_reply([self._set.call_recording(index)], None)
        if self._set.config.ended_call_recordings == "not_found":
            return error_reply(404, "the call is not active; use the Recordings API")
        return page_reply([], None)

    def get_call_recording(self, request: web.Request) -> Reply:
        """Answer ``GET .../channels/{ch}/calls/{call}/recordings/{id}``."""
        index = self._call_index(request.match_info)
        if isinstance(index, Reply):
            return index
        recordings = self._set
        if recordings.index(request.match_info["recordingId"]) != index:
            return error_reply(404, "recording not found")
        if not recordings.active(index):
            return error_reply(404, "the call is not active; use the Recordings API")
        return Reply(200, recordings.call_recording(index))
