"""Values and fields the API adds later decode without error."""

import asyncio

import asyncsdk

BODY = b"""{
    "id": "3c2b1a09-f8e7-4d6c-b5a4-938271605f4e",
    "status": "transferred",
    "direction": "internal",
    "amdResult": {"result": "fax", "confidence": 0.93},
    "recording": {"id": "r-1", "state": "available"}
}"""


# The known values as a set of strings, to tell a new value from a known one.
KNOWN_STATUSES = frozenset(asyncsdk.CallStatus)


async def main() -> None:
    call = asyncsdk.Call.from_json(BODY)
    print(repr(call.status), call.status in KNOWN_STATUSES)  # 'transferred' False
    print(repr(call.direction))  # 'internal': kept as the string the API sent
    assert call.amd_result is not None
    print(repr(call.amd_result.result))  # 'fax'
    # "recording" and "confidence" are not fields of the model: ignored, not an error.
    print(call.to_json())


if __name__ == "__main__":
    asyncio.run(main())
