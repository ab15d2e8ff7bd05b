"""What every model shares: the struct options, the timestamp type, pages, redaction.

`Model` is the base of every struct (frozen, camelCase on the wire, ``None`` fields
omitted on encode, out of the garbage collector's lists); `Page` the base of every
list endpoint's page (an empty ``nextPageToken`` reads as ``None``; decoding a page
pauses the collector). `zero_times_to_none` reads Bird's zero time
``0001-01-01T00:00:00Z`` as ``None`` after msgspec parsed it in C: a ``dec_hook`` or a
custom type would parse every timestamp in Python instead, and the calls' models,
which never carry the zero time, do not call it at all. `redact_url` drops the query
and credentials of a URL (presigned object-store URLs carry their signature there);
`repr_redacted` shows every URL field (``url``, ``*_url``) that way.

Imports: msgspec and the standard library only.
"""

from __future__ import annotations

import datetime as _dt
import gc
from typing import Annotated, Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

__all__ = [
    "ENCODER",
    "ZERO_TIME",
    "Document",
    "Model",
    "Page",
    "Timestamp",
    "document_decoder",
    "page_decoder",
    "redact_url",
    "repr_redacted",
    "rich_repr_redacted",
    "zero_times_to_none",
]

#: A timestamp on the wire: RFC 3339 with an offset, decoded timezone-aware.
Timestamp = Annotated[_dt.datetime, msgspec.Meta(tz=True)]

ZERO_TIME = _dt.datetime(1, 1, 1, tzinfo=_dt.UTC)
"""Bird's "not set" time, ``0001-01-01T00:00:00Z`` (Go's zero time): read as ``None``."""

#: The one JSON encoder every model's ``to_json`` uses.
ENCODER = msgspec.json.Encoder()
#: What replaces a redacted URL's query.
_REDACTED = "[redacted]"


class Model(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True, gc=False
):
    """Shared options: immutable, camelCase on the wire, ``None`` fields omitted on encode.

    Subclasses restate ``frozen=True`` so that type checkers see it too.
    """


class Document(Model, frozen=True):
    """Base of a model the API sends as a whole body: `from_json` and `to_json`.

    Each subclass is given its decoder by `document_decoder`.
    """

    _decoder: ClassVar[msgspec.json.Decoder[Any]]

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Self:
        """Decode one from its JSON body.

        Raises:
            msgspec.DecodeError: ``data`` is not valid JSON.
            msgspec.ValidationError: ``data`` is JSON but not of this model; the message
                names the JSON path that failed.
        """
        result: Self = cls._decoder.decode(data)
        return result

    def to_json(self) -> bytes:
        """Encode back to the API's camelCase JSON (``None`` fields omitted)."""
        return ENCODER.encode(self)


_D = TypeVar("_D", bound=Document)


def document_decoder(cls: type[_D]) -> msgspec.json.Decoder[_D]:
    """Build ``cls``'s decoder once and attach it for `Document.from_json`; return it."""
    decoder = msgspec.json.Decoder(cls)
    cls._decoder = decoder
    return decoder


def zero_times_to_none(model: Model, fields: tuple[str, ...]) -> None:
    """Set each of ``fields`` that holds `ZERO_TIME` to ``None`` (from ``__post_init__``)."""
    for name in fields:
        value = getattr(model, name)
        # ``year`` first: a cheap test that nearly every real time fails.
        if value is not None and value.year == 1 and value == ZERO_TIME:
            msgspec.structs.force_setattr(model, name, None)


def redact_url(url: str) -> str:
    """Return ``url`` without its query, fragment and credentials, for logs and reprs.

    A presigned object-store URL carries its signature (``X-Amz-Signature`` and
    friends) in the query: what is left names the host and the object, not the key to
    it. A URL without a query or credentials comes back unchanged.

    Example:
        ```pycon
        >>> redact_url("https://s3.example/rec.mp3?X-Amz-Signature=0f3a")
        'https://s3.example/rec.mp3?[redacted]'
        ```
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return _REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = host if port is None else f"{host}:{port}"
    query = _REDACTED if parts.query or parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _is_url_field(name: str) -> bool:
    """Whether the field ``name`` holds a URL that may carry a credential (``url``, ``*_url``)."""
    return name == "url" or name.endswith("_url")


def _shown(name: str, value: Any) -> Any:
    return redact_url(value) if isinstance(value, str) and _is_url_field(name) else value


def repr_redacted(model: Model) -> str:
    """Return the struct's repr with its URLs redacted (a ``__repr__`` for URL holders)."""
    parts = [f"{name}={_shown(name, getattr(model, name))!r}" for name in model.__struct_fields__]
    return f"{type(model).__name__}({', '.join(parts)})"


def rich_repr_redacted(model: Model) -> list[tuple[str, Any]]:
    """Return the fields for rich's pretty printer, URLs redacted."""
    return [(name, _shown(name, getattr(model, name))) for name in model.__struct_fields__]


class Page(Model, frozen=True):
    """Base of the list endpoints' pages: ``results`` and ``next_page_token``.

    Each subclass declares both fields (the wire order) and is given its decoder by
    `page_decoder`. The API marks the last page by leaving ``nextPageToken`` out or
    sending it empty; both read as ``None``.
    """

    _decoder: ClassVar[msgspec.json.Decoder[Any]]

    def __post_init__(self) -> None:
        if getattr(self, "next_page_token", None) == "":
            msgspec.structs.force_setattr(self, "next_page_token", None)

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Self:
        """Decode one page from its JSON body.

        Raises:
            msgspec.DecodeError: ``data`` is not valid JSON.
            msgspec.ValidationError: ``data`` is JSON but not such a page; the message
                names the JSON path that failed (``$.results[3].duration``).
        """
        # A page builds many GC-tracked objects per item (UUIDs, lists); without the
        # pause the collector runs over them dozens of times per page. Restored
        # whatever happens; nothing a decoder builds can form a cycle.
        decoder = cls._decoder
        if gc.isenabled():
            gc.disable()
            try:
                result: Self = decoder.decode(data)
                return result
            finally:
                gc.enable()
        result = decoder.decode(data)
        return result


_P = TypeVar("_P", bound=Page)


def page_decoder(cls: type[_P]) -> msgspec.json.Decoder[_P]:
    """Build ``cls``'s decoder once and attach it for `Page.from_json`; return it."""
    decoder = msgspec.json.Decoder(cls)
    cls._decoder = decoder
    return decoder
