"""A pydantic v2 twin of ``asyncsdk.models.Call``, for the decode and memory comparisons.

Same shape as the SDK's Structs: every nested model, camelCase aliases, ``uuid.UUID`` ids,
timezone-aware datetimes, every field but ``id`` optional, unknown fields ignored, frozen.
"""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


class Contact(_Model):
    id: str | None = None
    identifier_key: str | None = None
    identifier_value: str | None = None


class Number(_Model):
    type: str | None = None
    number: str | None = None
    anonymous: bool | None = None
    caller_id_name: str | None = None
    identity: str | None = None
    country_iso_code: str | None = None
    pstn_number_type: str | None = None


class Party(_Model):
    contact: Contact | None = None
    number: Number | None = None


class Condition(_Model):
    variable: str | None = None
    operator: str | None = None
    value: str | None = None


class CallFlowCommand(_Model):
    id: uuid.UUID | None = None
    call_id: uuid.UUID | None = None
    call_flow_id: uuid.UUID | None = None
    status: str | None = None
    command: str | None = None
    conditions: list[Condition] | None = None


class CallFlow(_Model):
    id: uuid.UUID | None = None
    commands: list[CallFlowCommand] | None = None


class Notification(_Model):
    url: str | None = None


class QualityInsights(_Model):
    mos: str | None = None
    pdd: str | None = None


class SipInsights(_Model):
    hangup_sip_code: str | None = None
    edge_region: str | None = None
    provider_name: str | None = None
    user_agent: str | None = None
    remote_signalling_ip: str | None = None
    remote_media_ip: str | None = None


class AmdResult(_Model):
    result: str | None = None
    speech: str | None = None
    locale: str | None = None


class Call(_Model):
    id: uuid.UUID
    channel_id: uuid.UUID | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    originator: Party | None = None
    receiver: Party | None = None
    parent_id: uuid.UUID | None = None
    direction: str | None = None
    status: str | None = None
    reason: str | None = None
    type: str | None = None
    duration: int | None = None
    hangup_cause_code: int | None = None
    hangup_source: str | None = None
    hangup_sip_code: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    ringing_at: AwareDatetime | None = None
    answered_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    scheduled_for: AwareDatetime | None = None
    call_flow: CallFlow | None = None
    notification: Notification | None = None
    quality_insights: QualityInsights | None = None
    sip_insights: SipInsights | None = None
    amd_result: AmdResult | None = None
    sip_type: str | None = None
    tags: list[str] | None = None


class CallPage(_Model):
    """A page of the list endpoints: ``{"results": [...], "nextPageToken": "..."}``."""

    results: list[Call]
    next_page_token: str | None = None


#: Adapters built once, like the SDK's decoder.
CALL_ADAPTER: TypeAdapter[Call] = TypeAdapter(Call)
PAGE_ADAPTER: TypeAdapter[list[Call]] = TypeAdapter(list[Call])
CALL_PAGE_ADAPTER: TypeAdapter[CallPage] = TypeAdapter(CallPage)
