"""List a time window with concurrent shards, checkpointing, and resume after a stop."""

import asyncio
import datetime as dt
import os

import asyncsdk

#: Stands in for wherever a worker keeps its progress (a file, a database row).
progress: dict[str, bytes] = {}


async def export(client: asyncsdk.Client, *, stop_after: int | None = None) -> int:
    """List the window, from the saved checkpoint if there is one; count the calls."""
    saved = progress.get("checkpoint")
    listing = asyncsdk.iter_call_log(
        client,
        os.environ["BIRD_WORKSPACE_ID"],
        start_at=dt.datetime.fromisoformat(os.environ["BIRD_SINCE"]),
        end_at=dt.datetime.fromisoformat(os.environ["BIRD_UNTIL"]),
        shards=4,  # pages in flight at once; busy shards are split further
        resume=asyncsdk.ListingCheckpoint.from_json(saved) if saved else None,
    )
    handed = 0
    async with listing:
        async for page in listing.pages():
            handed += len(page.results)  # store page.results durably first, then:
            progress["checkpoint"] = listing.checkpoint().to_json()
            if stop_after is not None and handed >= stop_after:
                break
    print(f"{handed} calls, {listing.pages_fetched} pages, {listing.done_fraction:.0%} done")
    return handed


async def main() -> None:
    async with asyncsdk.Client() as client:
        first = await export(client, stop_after=3)  # as if the worker had stopped here
        second = await export(client)  # resumes: each call exactly once in all
    print(f"{first + second} calls in all")


if __name__ == "__main__":
    asyncio.run(main())
