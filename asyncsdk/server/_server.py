"""`EmbeddedServer`: the Bird API server's lifecycle, on a real loopback socket.

Modelled on ``aiohttp.test_utils.TestServer``: start on a free port, expose the base
URL, stop without hanging on connections a client keeps open.

Imports: aiohttp, the server's own modules and the standard library.
"""

from __future__ import annotations

import uuid
from types import TracebackType

from aiohttp import web

from asyncsdk.server._app import BirdApi
from asyncsdk.server._config import ScriptedResponse, ServerConfig
from asyncsdk.server._dataset import Dataset
from asyncsdk.server._objectstore import ObjectStore
from asyncsdk.server._recordings import RecordingsApi
from asyncsdk.server._recordingset import RecordingSet
from asyncsdk.server._sites import start_runner
from asyncsdk.server._stats import RecordedRequest, ServerStats

__all__ = ["DEFAULT_HOST", "DEFAULT_SHUTDOWN_TIMEOUT", "EmbeddedServer"]

#: Interface the server listens on by default: loopback only.
DEFAULT_HOST = "127.0.0.1"
#: Seconds `EmbeddedServer.stop` waits for in-flight requests before cancelling them.
DEFAULT_SHUTDOWN_TIMEOUT = 0.25
#: Longest request line accepted, in bytes: a page token alone may be 8,000 characters.
MAX_REQUEST_LINE = 16 * 1024


class EmbeddedServer:
    """An in-process Bird API server serving one `Dataset` over HTTP.

    Use it as an async context manager, or call `start` and `stop`:

        async with EmbeddedServer(ServerConfig(rate_limit=5.0)) as server:
            url = server.call_url(server.dataset.call_ids[0])

    Args:
        config: How the server behaves; defaults to ``ServerConfig()``.
        dataset: The calls it serves; defaults to ``Dataset()`` (1000 calls, seed 0).
        host: Interface to listen on.
        port: Port to listen on; 0 picks a free one (read it from `base_url`).
        shutdown_timeout: Seconds `stop` waits for in-flight requests.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        dataset: Dataset | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        self._config = ServerConfig() if config is None else config
        self._dataset = Dataset() if dataset is None else dataset
        self._host = host
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._stats = ServerStats()
        self._requests: list[RecordedRequest] = []
        self._api = BirdApi(self._config, self._dataset, self._stats, self._requests)
        self._recordings: RecordingSet | None = None
        self._store: ObjectStore | None = None
        recordings = self._config.recordings
        if recordings is not None:
            self._recordings = RecordingSet(self._dataset, recordings)
            self._store = ObjectStore(
                recordings,
                self._recordings.resolve,
                seed=self._config.seed,
                record_requests=self._config.record_requests,
            )
            routes = RecordingsApi(
                self._config, self._recordings, self._store, self._api.known_workspace
            )
            self._api.add_routes(routes.routes())
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    @property
    def config(self) -> ServerConfig:
        """How the server behaves."""
        return self._config

    @property
    def dataset(self) -> Dataset:
        """The calls the server serves."""
        return self._dataset

    @property
    def stats(self) -> ServerStats:
        """Live counters; ``stats.reset()`` zeroes them."""
        return self._stats

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (if the config records requests)."""
        return self._requests

    @property
    def recordings(self) -> RecordingSet:
        """The recordings and transcriptions served (ids, index, status, object keys).

        Raises:
            RuntimeError: The config turned recordings off (``recordings=None``).
        """
        if self._recordings is None:
            raise RuntimeError("recordings are off: ServerConfig(recordings=None)")
        return self._recordings

    @property
    def objects(self) -> ObjectStore:
        """The object store the media redirects point to (its objects, faults, counters).

        Raises:
            RuntimeError: The config turned recordings off (``recordings=None``).
        """
        if self._store is None:
            raise RuntimeError("recordings are off: ServerConfig(recordings=None)")
        return self._store

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` of the running server.

        Raises:
            RuntimeError: The server is not running.
        """
        if self._base_url is None:
            raise RuntimeError("the server is not running; call start() or use 'async with'")
        return self._base_url

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    def call_url(
        self,
        call_id: uuid.UUID | str,
        *,
        workspace_id: uuid.UUID | str | None = None,
        channel_id: uuid.UUID | str | None = None,
    ) -> str:
        """Return the full URL of *Get a call* for ``call_id`` (the dataset's IDs by default)."""
        workspace = self._dataset.workspace_id if workspace_id is None else workspace_id
        channel = self._dataset.channel_id if channel_id is None else channel_id
        return f"{self.base_url}/workspaces/{workspace}/channels/{channel}/calls/{call_id}"

    def script(self, call_id: uuid.UUID | str, *responses: ScriptedResponse) -> None:
        """Queue ``responses`` for ``call_id``: each request for it takes the next one.

        Once the queue is empty the call is answered normally again. Scripted answers
        bypass the rate limiter and faults, but not the method and credential checks.
        A recording's or a transcription's id works the same for its gets (metadata
        and files): ``ScriptedResponse(307, headers={"Location": "ftp://x/"})`` is a
        hostile redirect.
        """
        self._api.script(call_id, responses)

    async def start(self) -> None:
        """Start listening.

        Raises:
            RuntimeError: The server is already running.
            OSError: The address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        recordings = self._config.recordings
        if self._store is not None and recordings is not None:
            await self._store.start(
                self._host, recordings.store_port, shutdown_timeout=self._shutdown_timeout
            )
        runner = web.AppRunner(
            self._api.make_app(),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
            max_line_size=MAX_REQUEST_LINE,
        )
        try:
            self._base_url = await start_runner(runner, self._host, self._port)
        except BaseException:
            if self._store is not None:
                await self._store.stop()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and close every connection; does nothing if not running."""
        runner, self._runner = self._runner, None
        self._base_url = None
        if runner is not None:
            await runner.cleanup()
        if self._store is not None:
            await self._store.stop()

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = self._base_url or "stopped"
        return f"<EmbeddedServer {where} {self._dataset!r}>"
