"""The decode contenders of ``decode`` and ``memory``: one call, or a JSON array of calls.

`decoders` imports only the library it is asked for, so that each worker process measures
one library in an interpreter that has not loaded the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: key -> label of each contender.
LABELS: dict[str, str] = {
    "sdk": "asyncsdk (msgspec -> Call)",
    "orjson": "orjson.loads -> dict",
    "json": "json.loads -> dict",
    "msgspec": "msgspec.json.decode -> dict",
    "pydantic": "pydantic v2 -> model",
}

Decode = Callable[[bytes], Any]


def decoders(key: str) -> tuple[Decode, Decode]:
    """Return the contender's decoders of one call and of a page (built once, here)."""
    if key == "sdk":  # JSON straight to frozen Call Structs
        import msgspec

        from asyncsdk.models import CALL_DECODER, Call

        return CALL_DECODER.decode, msgspec.json.Decoder(list[Call]).decode
    if key == "orjson":  # fast, untyped, unvalidated dicts
        import orjson

        return orjson.loads, orjson.loads
    if key == "json":
        import json

        return json.loads, json.loads
    if key == "msgspec":  # msgspec without a type: dicts, like orjson
        import msgspec

        return msgspec.json.decode, msgspec.json.decode
    if key == "pydantic":  # validated into an equivalent model (TypeAdapter.validate_json)
        from benchmarks._pydantic_models import CALL_ADAPTER, PAGE_ADAPTER

        return CALL_ADAPTER.validate_json, PAGE_ADAPTER.validate_json
    raise ValueError(f"unknown contender {key!r}")
