"""What every resource's methods do the same way: one GET of an item, a pager of a list.

A resource method checks its arguments and builds the path (and, for a list, the
`ListQuery`); the rest is here, once for every endpoint: `get_item` sends one GET
through the request engine and decodes the item, `pager` hands back a `Pager` whose
pages are fetched through the engine, and `json_decode` turns a msgspec decoder into
the engine's `Decode`, raising `DecodeError` that names the JSON path.

Every request goes through the engine (`asyncsdk._engine`): the workspace's limiter,
retries, deadline and counters, and the transport, which never follows a redirect. A
metadata GET answered with a redirect raises `APIError` (status 3xx) naming it.

Imports: msgspec, the standard library, and the package's `_engine` (its types),
`_protocol`, `listing` and `ratelimit._workspaces`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from .. import _protocol
from ..listing import ListQuery, Pager
from ..listing._query import check_page_token
from ..ratelimit._workspaces import workspace_of

if TYPE_CHECKING:
    from .._engine import Decode, Engine

__all__ = ["fetch_page", "get_item", "json_decode", "pager", "redact_queries"]

_T = TypeVar("_T")
_P = TypeVar("_P")
_Pg = TypeVar("_Pg", bound=Pager[Any, Any])


def json_decode(decode: Callable[[bytes], _T], what: str, *, presigned: bool = False) -> Decode[_T]:
    """Return the engine's decoder for a msgspec ``decode`` of ``what`` ("a recording").

    With ``presigned`` (bodies that carry presigned URLs: recordings, transcriptions),
    the body a `DecodeError` keeps has every URL's query replaced by ``[redacted]``.

    Raises (from the returned function):
        DecodeError: The body is not JSON, or not ``what``; ``path`` names the JSON path.
    """

    def run(body: bytes, *, url: object) -> _T:
        try:
            return decode(body)
        except msgspec.MsgspecError as exc:
            kept = redact_queries(body) if presigned else body
            raise _protocol._decode_error(exc, what, kept, url) from exc

    return run


#: A URL's query in a JSON body: after ``?``, up to the closing quote or whitespace (the
#: slashes may be escaped, ``https:\/\/``).
_QUERY = re.compile(rb"(https?:(?:\\?/){2}[^\s\"?]*)\?[^\s\"]*")


def redact_queries(body: bytes) -> bytes:
    """Return ``body`` with the query of every URL in it replaced by ``[redacted]``."""
    return _QUERY.sub(rb"\1?[redacted]", body)


async def get_item(engine: Engine, path: str, decode: Decode[_T]) -> _T:
    """GET ``path`` (built from validated IDs) through the engine; return it decoded."""
    return await engine.request(
        engine.url(path), decode, engine.settings.max_response_bytes, workspace_of(path)
    )


def pager(
    engine: Engine,
    decode: Decode[_P],
    query: ListQuery,
    page_token: object,
    cls: Callable[..., _Pg],
) -> _Pg:
    """Return a pager of ``cls`` over ``query``, from ``page_token`` (checked now).

    Raises:
        ConfigurationError: ``page_token`` is not a token a page could have given.
    """
    token = check_page_token(page_token)

    async def _fetch_page(query: ListQuery, page_token: str | None) -> _P:
        return await fetch_page(engine, decode, query, page_token)

    return cls(_fetch_page, query, page_token=token)


async def fetch_page(
    engine: Engine, decode: Decode[_P], query: ListQuery, page_token: str | None
) -> _P:
    """Fetch one page of ``query`` through the engine (what every pager is given)."""
    return await engine.request(
        engine.url(query.path, query.query_string(page_token)),
        decode,
        engine.settings.max_page_bytes,
        workspace_of(query.path),
    )
