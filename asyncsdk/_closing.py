"""`Closing`: ``async with`` for the classes that ``aclose`` ends.

``async with obj`` returns ``obj`` and awaits ``obj.aclose()`` on the way out, however
the block ends: the pagers, the sharded listings, a media stream, the bulk helpers'
streams and (its entry aside) the client share these two methods. contextlib has no
mixin for it (``AbstractAsyncContextManager`` leaves ``__aexit__`` abstract, and
``aclosing`` wraps an object rather than making it a context manager itself).

Imports: the standard library only.
"""

from __future__ import annotations

from typing import Self

__all__ = ["Closing"]


class Closing:
    """Mixin: ``async with`` returns the object and awaits its `aclose` on exit."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the object holds (each class says what); idempotent."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
