"""The API's resources, each a thin module over the request engine.

Each resource is a class of methods `Client` inherits: it checks the arguments (nothing
is sent on bad input), builds the path and query, and hands them to the engine
(`asyncsdk._engine`), which paces, sends, retries and decodes. Endpoints are flat
methods of `Client` (``client.get_call``, ``client.list_calls``): see CONTRIBUTING.md
for why.

- `calls`: *Get a call*, *List calls from a channel*, *Get calls log*.
- `recordings`: *List recordings*, *Get a recording*, and an active call's recordings.
- `transcriptions`: *List transcriptions*, *Get a transcription*.
- `media`: a recording's audio (download, stream) and a transcription's files.
- `_paging`: what they all do the same way: one GET of an item, a pager of a list.

Imports: the standard library and the package's core modules (the engine for its type
only); nothing here imports `asyncsdk.client`.
"""

from .calls import CallsResource
from .media import DownloadResult, MediaResource, MediaStream
from .recordings import RecordingsResource
from .transcriptions import TranscriptionsResource

__all__ = [
    "CallsResource",
    "DownloadResult",
    "MediaResource",
    "MediaStream",
    "RecordingsResource",
    "TranscriptionsResource",
]
