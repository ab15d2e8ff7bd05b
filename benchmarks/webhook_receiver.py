"""Scenario ``webhook_receiver``: verified events per second a receiver process sustains.

A receiver runs in its own process on loopback; a load generator in another process
posts distinct, correctly signed deliveries (the fixture body, a fresh request id each)
over keep-alive connections. The receiver's own CPU time (user + system, from
``getrusage``) is read before and after each round, so the figure is *events per
second of one core*, whatever the load generator costs on the shared machine.

Contenders (each its own receiver process, rounds interleaved):

* ``sdk`` -- `asyncsdk.webhooks.webhook_app` with a bounded `asyncio.Queue` sink that a
  consumer task drains: verification, timestamp window, dedupe, typed `CallEvent`;
* ``handwritten`` -- a minimal aiohttp handler: `hmac.new` + `json.loads` into a queue,
  no timestamp window, no dedupe, no bounded read.

Target: ``sdk`` >= 3,000 verified events per CPU-second.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._procs import Worker

NAME = "webhook_receiver"
TITLE = "Webhook receiver throughput"

CONTENDERS = {
    "sdk": "asyncsdk webhook_app (verify, window, dedupe, typed event)",
    "handwritten": "hand-written aiohttp handler (hmac + json.loads)",
}
KEY = "bench-signing-key"
PATH = "/bird/voice"
TARGET_EPS = 3000.0

FULL = {"rounds": 6, "events_per_round": 6000, "connections": 32}
QUICK = {"rounds": 2, "events_per_round": 300, "connections": 8}

BODY = (h.FIXTURES / "webhook_voice_outbound.json").read_bytes()
STATS_TIMEOUT = 60.0
"""Seconds a receiver may take to consume what it acknowledged before a stats answer."""


# --- the receiver (child process) ------------------------------------------------------


def _receiver(argv: list[str]) -> None:
    """Serve deliveries on a free port (printed), answering stats requests on stdin.

    ``argv`` is the kind and ``consume_pause``: seconds that make the queue's consumer
    that much slower per event, as a real pipeline's would be; the benchmark gives 0.
    """
    from aiohttp import web

    kind, consume_pause = argv[0], float(argv[1])
    counts = {"accepted": 0}

    async def main() -> None:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)

        async def consume() -> None:
            while True:
                await queue.get()
                if consume_pause:
                    await asyncio.sleep(consume_pause)
                counts["accepted"] += 1
                queue.task_done()

        if kind == "sdk":
            from asyncsdk.webhooks import webhook_app

            app = webhook_app(KEY, queue, path=PATH)  # type: ignore[arg-type]
        else:
            secret = KEY.encode()

            async def handle(request: web.Request) -> web.Response:
                body = await request.read()
                stamp = request.headers["messagebird-request-timestamp"]
                url = f"{request.scheme}://{request.host}{request.raw_path}"
                message = stamp.encode() + b"\n" + url.encode() + b"\n"
                message += hashlib.sha256(body).digest()
                expected = hmac.new(secret, message, hashlib.sha256).digest()
                given = base64.b64decode(request.headers["messagebird-signature"])
                if not hmac.compare_digest(expected, given):
                    return web.Response(status=401)
                queue.put_nowait(json.loads(body))
                return web.Response(text="ok")

            app = web.Application()
            app.router.add_post(PATH, handle)
        consumer = asyncio.create_task(consume())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        sys.stdout.write(json.dumps({"port": port}) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()

        async def stats() -> dict[str, float]:
            # An acknowledgement means the event is on the queue, not yet consumed: once
            # the load has its answers, the count is exact only after the queue drains.
            await asyncio.wait_for(queue.join(), STATS_TIMEOUT)
            return {"cpu": h.cpu_seconds(), "accepted": counts["accepted"]}

        await loop.run_in_executor(None, _answer_stats, loop, stats)
        consumer.cancel()
        await runner.cleanup()

    asyncio.run(main())


def _answer_stats(
    loop: asyncio.AbstractEventLoop, stats: Callable[[], Coroutine[Any, Any, dict[str, float]]]
) -> None:
    """Answer each line on stdin with the CPU seconds used and the events consumed.

    Runs in a thread beside the receiver's loop; each answer waits on that loop until
    every event acknowledged so far has been consumed (an error line if that takes
    longer than `STATS_TIMEOUT`).
    """
    for _ in sys.stdin:
        try:
            reply: dict[str, Any] = asyncio.run_coroutine_threadsafe(stats(), loop).result()
        except Exception as exc:  # report to the parent instead of dying mid-protocol
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


# --- the load (parent process) ---------------------------------------------------------


#: Numbers every delivery of the run apart (warm-up included).
_SERIAL = itertools.count()


def _signed(url: str, n: int) -> list[tuple[str, dict[str, str]]]:
    """``n`` distinct signed deliveries of the fixture body: each to its own URL.

    Distinct, or the receiver would rightly refuse the repeats as replays of one
    signed delivery (same body, URL and timestamp). A query (``?n=7``) is part of what
    is signed and leaves the body, and so the work per event, as it is.
    """
    from asyncsdk.webhooks import compute_signature

    stamp = str(int(time.time()))
    deliveries = []
    for _ in range(n):
        target = f"{url}?n={next(_SERIAL)}"
        signature = compute_signature(KEY, timestamp=stamp, url=target, body=BODY)
        headers = {
            "messagebird-signature": signature,
            "messagebird-request-timestamp": stamp,
            "messagebird-request-id": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        deliveries.append((target, headers))
    return deliveries


async def _load(
    url: str, deliveries: list[tuple[str, dict[str, str]]], connections: int
) -> tuple[float, int]:
    import aiohttp

    ok = 0
    next_index = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            nonlocal ok, next_index
            while next_index < len(deliveries):
                target, sent = deliveries[next_index]
                next_index += 1
                async with session.post(target, data=BODY, headers=sent) as resp:
                    await resp.read()
                    ok += resp.status == 200

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(connections)))
        return time.perf_counter() - started, ok


class _Receiver:
    def __init__(self, kind: str, consume_pause: float = 0.0) -> None:
        self.worker = Worker("benchmarks.webhook_receiver", [kind, str(consume_pause)])
        self.port = self.worker.read()["port"]
        self.url = f"http://127.0.0.1:{self.port}{PATH}"

    def stats(self) -> Json:
        return self.worker.request({})


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    rounds, per_round, connections = (int(params[k]) for k in FULL)
    keys = list(CONTENDERS)
    receivers = {key: _Receiver(key) for key in keys}
    metrics = ("events_per_cpu_second", "events_per_wall_second", "receiver_cpu_share")
    samples: dict[str, dict[str, list[float]]] = {m: {k: [] for k in keys} for m in metrics}
    eps_cpu, eps_wall, cpu_share = samples.values()
    try:
        for receiver in receivers.values():  # warm-up: connections, caches
            asyncio.run(_load(receiver.url, _signed(receiver.url, 200), connections))
        for order in h.interleaved(keys, rounds):
            for key in order:
                receiver = receivers[key]
                deliveries = _signed(receiver.url, per_round)
                before = receiver.stats()
                wall, ok = asyncio.run(_load(receiver.url, deliveries, connections))
                after = receiver.stats()
                consumed = after["accepted"] - before["accepted"]
                if ok != per_round or consumed != per_round:
                    raise RuntimeError(
                        f"{key}: {ok} of {per_round} deliveries acknowledged, "
                        f"{consumed} consumed from the receiver's queue"
                    )
                cpu = after["cpu"] - before["cpu"]
                eps_cpu[key].append(per_round / cpu)
                eps_wall[key].append(per_round / wall)
                cpu_share[key].append(cpu / wall)
    finally:
        for receiver in receivers.values():
            receiver.worker.close()
    results = h.by_contender(CONTENDERS, samples)
    ratio = h.paired_ratio(eps_cpu["sdk"], eps_cpu["handwritten"])
    ratios = {"sdk/handwritten events per cpu-second": ratio}
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"Distinct signed deliveries of the {len(BODY):,}-byte fixture posted over "
            f"{connections} keep-alive loopback connections by a separate load process; "
            "each acknowledged only once on the receiver's queue. Events per CPU-second is "
            "the receiver process's own CPU (one core), whatever the load costs."
        ),
        parameters={**params, "body_bytes": len(BODY)},
        results=results,
        ratios=ratios,
        targets=[
            h.target(
                f"sdk >= {TARGET_EPS:,.0f} verified events per CPU-second",
                results["sdk"]["events_per_cpu_second"]["median"],
                ">=",
                TARGET_EPS,
                "median of the rounds; receiver process CPU time (user + system)",
            )
        ],
        tables=[
            h.grid(
                "Receiver throughput, median (min-max)",
                "contender",
                CONTENDERS,
                {
                    "events_per_cpu_second": "events / CPU-second",
                    "events_per_wall_second": "events / wall-second",
                    "receiver_cpu_share": "receiver CPU share",
                },
                lambda k, metric: h.fmt_range(results[k][metric]),
            ),
            h.ratio_table("SDK ratio (per round: median (min-max); above 1 is faster)", ratios),
        ],
        chart={
            "title": "Webhook receiver (events per CPU-second, median; bars min-max)",
            "xlabel": "verified events per second of one core",
            "groups": {
                "loopback, keep-alive": {r["label"]: r[metrics[0]] for r in results.values()}
            },
        },
        notes=[
            "Wall-clock rates are bounded by the load generator sharing the machine's two "
            "cores; the CPU-second figure is the receiver's own cost.",
            "Most of a receiver's CPU is aiohttp's HTTP handling; verification and the "
            "typed decode are about 17 us of it (see the webhook_verify scenario).",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _receiver)
