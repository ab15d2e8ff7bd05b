"""Read a call: plain attributes, typed values, and the known values of each enum."""

import asyncio
import datetime as dt
import os

import asyncsdk
from asyncsdk import CallStatus


async def main() -> None:
    async with asyncsdk.Client() as client:
        call = await client.get_call(
            os.environ["BIRD_WORKSPACE_ID"],
            os.environ["BIRD_CHANNEL_ID"],
            os.environ["BIRD_CALL_ID"],
        )

    # Enumerated fields are plain strings; the constants are strings too.
    match call.status:
        case CallStatus.COMPLETED:
            print(f"completed: {call.duration}s, hung up by {call.hangup_source}")
        case CallStatus.NO_ANSWER | CallStatus.BUSY | CallStatus.FAILED:
            print(f"not connected: {call.status} ({call.reason})")
        case None:
            print("no status")
        case other:  # still in progress, or a value newer than this SDK
            print(f"status: {other}")

    # IDs are uuid.UUID, timestamps timezone-aware datetimes, nested objects Structs.
    print("id version:", call.id.version)
    if call.created_at is not None:
        print("created:", call.created_at.astimezone(dt.UTC).isoformat())
    if call.originator is not None and call.originator.number is not None:
        print("from country:", call.originator.number.country_iso_code)
    if call.call_flow is not None:
        steps = [command.command for command in call.call_flow.commands or []]
        print("flow:", " -> ".join(str(step) for step in steps))

    # Back to the API's camelCase JSON (absent and null fields are left out).
    print(call.to_json().decode()[:60], "...")


if __name__ == "__main__":
    asyncio.run(main())
