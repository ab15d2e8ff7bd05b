"""The parts calls and recordings share: who took part, and in which direction.

Imports: msgspec (through `_base`) and the standard library only.
"""

from __future__ import annotations

from enum import StrEnum

from ._base import Model

__all__ = ["CallDirection", "Contact", "Number", "NumberType", "Party"]


class CallDirection(StrEnum):
    """Known values of ``Call.direction`` and ``Recording.direction``; the API may send others."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class NumberType(StrEnum):
    """Known values of ``Number.type``; the API may send others."""

    PSTN = "pstn"


class Contact(Model, frozen=True):
    """The contact a party resolved to."""

    id: str | None = None
    identifier_key: str | None = None
    identifier_value: str | None = None


class Number(Model, frozen=True):
    """The number a party called from or to."""

    type: str | None = None
    """See `NumberType` for the known values."""
    number: str | None = None
    anonymous: bool | None = None
    caller_id_name: str | None = None
    identity: str | None = None
    country_iso_code: str | None = None
    pstn_number_type: str | None = None


class Party(Model, frozen=True):
    """The originator or the receiver of a call or a recording."""

    contact: Contact | None = None
    number: Number | None = None
