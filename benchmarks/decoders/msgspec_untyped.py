"""msgspec without a type: JSON to plain dicts, like orjson."""

from typing import Any

import msgspec

name = "msgspec.json.decode -> dict"


def decode_one(data: bytes) -> Any:
    return msgspec.json.decode(data)


def decode_page(data: bytes) -> Any:
    return msgspec.json.decode(data)
