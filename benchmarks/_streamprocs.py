"""The streams scenario's processes: CLI replicas and workers, and the deliveries they take.

`start` runs ``python -m asyncsdk COMMAND`` and waits for its first line (its stderr
kept in a file, for the error if it does not start); `fleet` starts
2 ``listen --redis`` replicas and 3 ``enrich`` workers at once; `stop` ends them with
SIGTERM; `cpu_seconds_of` reads a live process's CPU time from ``/proc``;
`deliveries_to` signs call events before the clock starts and `blast` posts them, 64 in
flight, retrying a non-2xx as Bird would, and counts the acknowledgements of each
second. asyncio's subprocesses and streams cover it: the load generator is a minimal
HTTP/1.1 client over asyncio streams, not aiohttp's, because it shares the 2 cores with
the processes it measures and aiohttp's client cost as much CPU per event as a replica
(see `blast`). Imports: the standard library, asyncsdk (its server and webhooks).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ACCESS_KEY = "bench-access-key"
SIGNING_KEY = "bench-signing-key"
ENV = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


async def start(*argv: str, expect: str, cwd: Path) -> asyncio.subprocess.Process:
    """Run ``python -m asyncsdk ARGV`` in ``cwd``; return once its first line says ``expect``.

    Its stderr goes to a file in ``cwd``, whose end is in the error if it does not start
    (the child is then killed).
    """
    errors = cwd / f"{argv[0]}-{uuid.uuid4().hex[:8]}.stderr"
    with errors.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asyncsdk", *argv, "--no-progress", env=ENV, cwd=cwd,
            stdout=asyncio.subprocess.PIPE, stderr=sink,
        )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    except TimeoutError:
        line = "(nothing within 60 s)"
    if not line.startswith(expect):
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        said = errors.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{argv[0]} did not start: {line!r}; its stderr: {said!r}")
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


def _raw_requests(deliveries: list[tuple[str, bytes, dict]]) -> list[tuple[str, int, bytes]]:
    """Each delivery as the bytes of its HTTP/1.1 request: host, port, request."""
    out = []
    for url, body, headers in deliveries:
        parts = urlsplit(url)
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}",
                 f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        out.append((parts.hostname or "127.0.0.1", parts.port or 80, head + body))
    return out


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response: its status, and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, keep = 0, True
    for line in head.lower().split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line[15:])
        elif line.startswith(b"connection:") and b"close" in line:
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def blast(deliveries: list[tuple[str, bytes, dict]], concurrency: int = 64) -> dict:
    """Post every delivery (retrying a non-2xx, as Bird would); return counts and rate.

    The load generator shares the machine with what it measures, so it does as little
    per event as it can: each request's bytes are built before the clock starts, and
    sent on keep-alive connections with asyncio's streams, its answer read as little as
    HTTP/1.1 allows (status, ``Content-Length``, ``Connection``). An aiohttp client
    spent about 0.3 ms of CPU per event, as much as a receiver replica.
    """
    requests = _raw_requests(deliveries)
    answers: dict[int, int] = {}
    queue = list(reversed(requests))
    acknowledged = 0
    acked_at: list[float] = []

    async def one() -> None:
        nonlocal acknowledged
        open_: dict[tuple[str, int], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        try:
            while queue:
                host, port, raw = queue.pop()
                for _ in range(50):
                    if (host, port) not in open_:
                        open_[host, port] = await asyncio.open_connection(host, port)
                    reader, writer = open_[host, port]
                    try:
                        writer.write(raw)
                        status, keep = await _answer(reader)
                    except (OSError, asyncio.IncompleteReadError):
                        status, keep = 0, False  # the connection was closed: retry anew
                    if not keep:
                        writer.close()
                        del open_[host, port]
                    answers[status] = answers.get(status, 0) + 1
                    if 200 <= status < 300:
                        acknowledged += 1
                        acked_at.append(time.perf_counter())
                        break
                    await asyncio.sleep(0.05)
        finally:
            for _, writer in open_.values():
                writer.close()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    each_second = [0] * (int(elapsed) + 1)
    for t in acked_at:
        each_second[int(t - started)] += 1
    return {"acknowledged": acknowledged, "seconds": round(elapsed, 2),
            "per_second": round(acknowledged / elapsed), "answers": answers,
            "sender_cpu_seconds": round(cpu, 2),
            "acknowledged_each_second": each_second}  # fmt: skip
