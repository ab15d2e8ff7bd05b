"""asyncsdk's typed decoder: JSON straight to frozen ``Call`` Structs."""

import msgspec

from asyncsdk.models import CALL_DECODER, Call

name = "asyncsdk (msgspec -> Call)"

_PAGE_DECODER = msgspec.json.Decoder(list[Call])


def decode_one(data: bytes) -> Call:
    return CALL_DECODER.decode(data)


def decode_page(data: bytes) -> list[Call]:
    return _PAGE_DECODER.decode(data)
