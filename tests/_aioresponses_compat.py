"""A test-side shim that lets aioresponses 0.7.9 build responses on aiohttp >= 3.14.

aiohttp 3.14 made ``stream_writer`` a required argument of ``ClientResponse``;
aioresponses 0.7.9 does not pass it (pnuckowski/aioresponses#289, fixed by the still
open PR #288), so every mocked request fails with ``ClientResponse.__init__() missing
... 'stream_writer'``. aioresponses takes a ``response_class``; this one supplies the
missing argument, and `MockAPI` uses it for every mocked URL. Delete this file once an
aioresponses release carries the fix. aiohttp itself is never pinned back for this.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses


class CompatClientResponse(ClientResponse):
    """``ClientResponse`` with a stand-in for the stream writer aioresponses omits."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        # With writer=None (request already sent) aiohttp only reads .output_size.
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class MockAPI(aioresponses):  # type: ignore[misc]
    """``aioresponses`` that builds `CompatClientResponse` unless told otherwise.

    aioresponses files requests under a normalised URL (query decoded and sorted);
    ``sent`` keeps each request's URL exactly as the client put it on the wire.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    async def _request_mock(
        self, orig_self: Any, method: str, url: Any, *args: Any, **kwargs: Any
    ) -> Any:
        self.sent.append(str(url))
        return await super()._request_mock(orig_self, method, url, *args, **kwargs)

    def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatClientResponse)
        super().add(url, method, *args, **kwargs)
