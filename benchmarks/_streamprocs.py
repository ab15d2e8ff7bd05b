"""The streams scenario's processes: CLI replicas and workers, and the deliveries they take.

`start` runs ``python -m asyncsdk COMMAND`` and waits for its first line; `fleet` starts
2 ``listen --redis`` replicas and 3 ``enrich`` workers at once; `stop` ends them with
SIGTERM; `cpu_seconds_of` reads a live process's CPU time from ``/proc``;
`deliveries_to` signs call events before the clock starts and `blast` posts them, 64 in
flight, retrying a non-2xx as Bird would, and counts the acknowledgements of each
second. asyncio's subprocesses and aiohttp cover it. Imports: the standard library,
aiohttp, asyncsdk (its server and webhooks).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

ACCESS_KEY = "bench-access-key"
SIGNING_KEY = "bench-signing-key"
ENV = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


async def start(*argv: str, expect: str, cwd: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncsdk", *argv, "--no-progress", env=ENV, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    if not line.startswith(expect):
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return proc


async def fleet(
    redis_url: str,
    ports: list[int],
    work: Path,
    *,
    listen: tuple[str, ...] = (),
    enrich: tuple[str, ...],
) -> list[asyncio.subprocess.Process]:
    """Start a ``listen --redis`` replica on each port and 3 ``enrich`` workers, at once."""
    receivers = await asyncio.gather(*(
        start("listen", "--redis", redis_url, "--port", str(port), "--path", "/bird", *listen,
               expect="listening", cwd=work)
        for port in ports
    ))  # fmt: skip
    workers = await asyncio.gather(*(
        start("enrich", "--redis", redis_url, "--group", "g", "--consumer", f"w{n}", *enrich,
               expect="enriching", cwd=work)
        for n in range(3)
    ))  # fmt: skip
    return [*receivers, *workers]


async def stop(procs: list[asyncio.subprocess.Process], *, hurry: bool = False) -> None:
    """SIGTERM (twice with ``hurry``: do not finish a backlog), then wait for the exit."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            if hurry:
                await asyncio.sleep(0.2)
                proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 120)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def cpu_seconds_of(pid: int | None) -> float:
    """CPU seconds (user + system) a live process has used, from ``/proc``."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deliveries_to(urls: list[str], count: int, public: str | None) -> list[tuple[str, bytes, dict]]:
    """Signed deliveries of ``count`` events, spread over ``urls`` in turn."""
    from asyncsdk.server import Dataset
    from asyncsdk.webhooks import compute_signature

    dataset = Dataset(size=max(count, 1), seed=11)
    stamp = str(int(time.time()))
    out = []
    for n, call_id in enumerate(dataset.call_ids[:count]):
        url = urls[n % len(urls)]
        body = dataset.body(call_id) or b"{}"
        body = b'{"service":"channels","event":"voice.outbound","payload":' + body + b"}"
        signed = (public or url.rsplit("/", 1)[0]) + "/bird"
        headers = {
            "messagebird-signature": compute_signature(
                SIGNING_KEY, timestamp=stamp, url=signed, body=body
            ),
            "messagebird-request-timestamp": stamp,
            "messagebird-request-id": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        out.append((url, body, headers))
    return out


async def blast(deliveries: list[tuple[str, bytes, dict]], concurrency: int = 64) -> dict:
    """Post every delivery (retrying a non-2xx, as Bird would); return counts and rate."""
    import aiohttp

    answers: dict[int, int] = {}
    queue = list(reversed(deliveries))
    acknowledged = 0
    acked_at: list[float] = []

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal acknowledged
        while queue:
            url, body, headers = queue.pop()
            for _ in range(50):
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    answers[resp.status] = answers.get(resp.status, 0) + 1
                    if 200 <= resp.status < 300:
                        acknowledged += 1
                        acked_at.append(time.perf_counter())
                        break
                await asyncio.sleep(0.05)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(session) for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    each_second = [0] * (int(elapsed) + 1)
    for t in acked_at:
        each_second[int(t - started)] += 1
    return {"acknowledged": acknowledged, "seconds": round(elapsed, 2),
            "per_second": round(acknowledged / elapsed), "answers": answers,
            "sender_cpu_seconds": round(cpu, 2),
            "acknowledged_each_second": each_second}  # fmt: skip
