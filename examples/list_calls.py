"""List calls newest first, page by page, and resume from a saved token."""

import asyncio
import os

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]

    async with asyncsdk.Client() as client:
        # The calls of one channel: an async iterator of Call, newest first. The next
        # page is already requested while this loop works on the current one; leaving
        # the `async with` cancels it.
        newest = []
        async with client.list_calls(workspace_id, channel_id, page_size=5) as calls:
            async for call in calls:
                newest.append(call)
                if len(newest) == 3:
                    break
        for call in newest:
            print(call.created_at, call.id, call.status)

        # The workspace's calls log, filtered (a filter takes one value or several);
        # .pages() gives each page and the token that leads to the next one.
        saved = None
        log = client.list_call_log(
            workspace_id, status=["completed", "busy"], direction="outgoing", page_size=4
        )
        async for page in log.pages():
            print(f"page of {len(page.results)}, more: {page.next_page_token is not None}")
            saved = page.next_page_token
            break  # stop here: a worker could save the token and exit

        # Later (another process, another day): resume where it stopped.
        if saved is not None:
            rest = client.list_call_log(
                workspace_id,
                status=["completed", "busy"],
                direction="outgoing",
                page_size=4,
                page_token=saved,
            )
            remaining = [call.id async for call in rest]
            print(f"resumed: {len(remaining)} more calls")


if __name__ == "__main__":
    asyncio.run(main())
