"""Decode contenders: one tiny module per library, all with the same interface.

Each module defines ``name`` (a label), ``decode_one(data: bytes) -> object`` (one call) and
``decode_page(data: bytes) -> object`` (a JSON array of calls). Any decoder is built once, at
import. ``CONTENDERS`` maps a short key to the module; a worker imports only its own module,
so each library is measured in a process that has not loaded the others.
"""

CONTENDERS: dict[str, str] = {
    "sdk": "benchmarks.decoders.sdk",
    "orjson": "benchmarks.decoders.orjson_dict",
    "json": "benchmarks.decoders.json_dict",
    "msgspec": "benchmarks.decoders.msgspec_untyped",
    "pydantic": "benchmarks.decoders.pydantic_v2",
}
