"""orjson to plain dicts: fast, untyped, unvalidated."""

from typing import Any

import orjson

name = "orjson.loads -> dict"


def decode_one(data: bytes) -> Any:
    return orjson.loads(data)


def decode_page(data: bytes) -> Any:
    return orjson.loads(data)
