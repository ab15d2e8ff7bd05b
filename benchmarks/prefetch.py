"""Scenario ``prefetch``: a consumer as slow as the API, with and without the next page in flight.

The embedded server runs in its own process and answers every page after a fixed
latency. A client process lists ``PAGES`` pages of the calls log twice per round:

* ``prefetch`` -- `asyncsdk.CallPager.pages`: the request for page k+1 goes out as soon
  as page k arrives, while the consumer works on page k;
* ``sequential`` -- the same requests through the same client, one page after the
  other (``Client._fetch_page``, the pager's own fetcher, awaited in a loop).

The consumer spends on each page as long as a page takes to fetch (measured first, in
the same process): waiting on I/O (``asyncio.sleep``, like a database write) or busy on
the CPU. Without prefetch a listing takes about ``PAGES x (fetch + work)``; with it about
``PAGES x max(fetch, work)`` plus one fetch: half, for equal fetch and work.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._procs import Announced, run_json

NAME = "prefetch"
TITLE = "Prefetch: the next page in flight while the caller works"

ACCESS_KEY = "benchmark-key"
LATENCY = 0.05
PAGE_SIZE = 100
MAX_RATIO = 0.6
WORK_KINDS = ("io", "cpu")

FULL = {"pages": 20, "rounds": 5}
QUICK = {"pages": 6, "rounds": 1}


# --- the client (a child process) ----------------------------------------------------------


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _client(base_url: str, workspace: str, pages: int, rounds: int) -> Json:
    import asyncsdk
    from asyncsdk import _protocol
    from asyncsdk.listing._query import build_query

    query = build_query(_protocol.call_log_path(workspace), page_size=PAGE_SIZE)

    async with asyncsdk.Client(access_key=ACCESS_KEY, base_url=base_url) as client:

        async def sequential(work: Callable[[], Awaitable[None]]) -> float:
            started = time.perf_counter()
            token = None
            for _ in range(pages):
                page = await client._fetch_page(query, token)
                await work()
                token = page.next_page_token
            return time.perf_counter() - started

        async def prefetch(work: Callable[[], Awaitable[None]]) -> float:
            started = time.perf_counter()
            async with client.list_call_log(workspace, page_size=PAGE_SIZE) as pager:
                count = 0
                async for _ in pager.pages():
                    await work()
                    count += 1
                    if count == pages:
                        break
            return time.perf_counter() - started

        async def nothing() -> None:
            return None

        await sequential(nothing)  # warm-up: connections, caches
        fetch = statistics.median([await sequential(nothing) / pages for _ in range(3)])

        async def io_work() -> None:
            await asyncio.sleep(fetch)

        async def cpu_work() -> None:
            _busy(fetch)

        works = {"io": io_work, "cpu": cpu_work}
        times: Json = {kind: {"prefetch": [], "sequential": []} for kind in WORK_KINDS}
        for order in h.interleaved([prefetch, sequential], rounds):
            for kind in WORK_KINDS:
                for mode in order:
                    times[kind][mode.__name__].append(await mode(works[kind]))
    return {"fetch_seconds": fetch, "times": times}


def _worker(argv: list[str]) -> None:
    base_url, workspace, pages, rounds = argv
    print(json.dumps(asyncio.run(_client(base_url, workspace, int(pages), int(rounds)))))


# --- the scenario (parent process) ---------------------------------------------------------


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    pages, rounds = int(params["pages"]), int(params["rounds"])
    argv = ["--port", "0", "--size", str(pages * PAGE_SIZE * 2), "--seed", "3"]
    argv += ["--latency", str(LATENCY), "--access-key", ACCESS_KEY]
    with Announced("asyncsdk.server", argv) as server:
        args = [server.base_url, str(server.workspace_id), str(pages), str(rounds)]
        measured = run_json("benchmarks.prefetch", args)
    times = measured["times"]
    fetch = measured["fetch_seconds"]
    ratios: Json = {
        f"{kind}: prefetch/sequential time": h.paired_ratio(
            times[kind]["prefetch"], times[kind]["sequential"]
        )
        for kind in WORK_KINDS
    }
    results: Json = {
        kind: {mode: h.summarize(times[kind][mode]) for mode in ("prefetch", "sequential")}
        for kind in WORK_KINDS
    }
    results["fetch_seconds_per_page"] = round(fetch, 4)
    ideal = (pages + 1) / (2 * pages)
    labels = {"io": "consumer waits on I/O", "cpu": "consumer busy on the CPU"}
    targets = [
        h.target(
            f"{labels[kind]}: prefetch / sequential time <= {MAX_RATIO}",
            ratios[f"{kind}: prefetch/sequential time"]["median"],
            "<=",
            MAX_RATIO,
            f"median of per-round ratios, {pages} pages, work per page = fetch time",
        )
        for kind in WORK_KINDS
    ]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"Listing {pages} pages of {PAGE_SIZE} calls from the embedded server "
            f"({LATENCY * 1000:.0f} ms per page) while the consumer spends as long on each "
            "page as a page takes to fetch; the pager (next page requested as soon as one "
            "arrives) against the same requests awaited one after the other."
        ),
        parameters={
            "pages": pages,
            "page_size": PAGE_SIZE,
            "rounds": rounds,
            "server_latency_s": LATENCY,
            "work_per_page_s": round(fetch, 4),
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=[
            h.table(
                "Seconds to list and consume every page, median (min-max)",
                ["consumer", "with prefetch", "without", "ratio (per round)"],
                (
                    [
                        labels[kind],
                        h.fmt_range(results[kind]["prefetch"]),
                        h.fmt_range(results[kind]["sequential"]),
                        h.fmt_ratio(ratios[f"{kind}: prefetch/sequential time"]),
                    ]
                    for kind in WORK_KINDS
                ),
            )
        ],
        notes=[
            f"A page took {fetch * 1000:.1f} ms to fetch (median of three un-prefetched "
            f"listings), so each consumer spent that long per page. The ideal ratio is "
            f"(pages + 1) / (2 x pages) = {ideal:.2f}.",
            "A CPU-bound consumer blocks the event loop, yet prefetch still helps: the "
            "request is already sent, so the server works while the consumer does, and the "
            "answer waits in the socket.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
