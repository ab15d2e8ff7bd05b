"""Starting an aiohttp runner on a loopback port: shared by the API server and the object store.

Imports: aiohttp.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["start_runner"]


async def start_runner(runner: web.AppRunner, host: str, port: int) -> str:
    """Set ``runner`` up and listen on ``host``:``port`` (0: a free one); return its URL.

    Raises:
        OSError: The address cannot be bound (the runner is cleaned up).
    """
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
    except BaseException:
        await runner.cleanup()
        raise
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return f"http://{shown}:{bound_port}"
