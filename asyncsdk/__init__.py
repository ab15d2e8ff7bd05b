"""asyncsdk: a typed asyncio client for Bird's Voice API."""
