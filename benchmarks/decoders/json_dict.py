"""The standard library's json to plain dicts."""

import json
from typing import Any

name = "json.loads -> dict"


def decode_one(data: bytes) -> Any:
    return json.loads(data)


def decode_page(data: bytes) -> Any:
    return json.loads(data)
