"""The media path: a recording's or a transcript's bytes, behind Bird's one redirect.

- `_rules` (no I/O): which redirect to follow, the object store's headers, what each
  of its answers means for a read holding N bytes of a version;
- `_transfer`: `MediaTransfer`, one object read through fresh presigned URLs and
  resumed (``Range`` + ``If-Range``) until whole, inside the client's media slots;
- `_files`: the destination checked, the ``.part`` file, fsync and rename;
- `_blocks`: `BlockWriter`, a download's chunks hashed and appended in order by a
  drain job off the event loop;
- `_writeback`: the kernel asked to write a download out as it grows, so that its
  fsync at the end is short.

The resource methods that use them are in `asyncsdk.resources.media`.

Imports: aiohttp, yarl, msgspec, the standard library, and the package's `_protocol`,
`config`, `errors`, `models` (`redact_url`) and `retry`.
"""

from ._files import PartFile, check_destination
from ._transfer import CHUNK_SIZE, MAX_RESUMES, MediaTransfer

__all__ = [
    "CHUNK_SIZE",
    "MAX_RESUMES",
    "MediaTransfer",
    "PartFile",
    "check_destination",
]
