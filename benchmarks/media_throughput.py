"""Scenario ``media_throughput``: one large recording over loopback, the SDK vs hand-written.

One recording (200 MB; ``--quick``: 5 MB) is served by the embedded server in its own
process (`benchmarks._mediaserver`): Bird's 307, then the object store's body. Three
contenders download it to a file in this process, in interleaved rounds:

* ``sdk``: `Client.download_recording` (``.part``, SHA-256 while writing, length check,
  fsync, rename), as a caller gets it by default;
* ``sdk-no-checksum``: the same with ``checksum=None`` (no SHA-256; the rest the same);
* ``aiohttp``: a hand-written loop: GET the media endpoint with the credential, read its
  ``Location``, GET that without it, ``iter_chunked(256 KiB)`` straight to a file;
* ``aiohttp+sha256+fsync``: the same loop doing what the SDK does for its guarantees
  (hash while writing, fsync at the end).

Rounds are `benchmarks._harness.interleaved`; each download measures bytes per second
(wall clock), the client's CPU per MB (`time.process_time`: every thread of this
process), its event loop thread's (`time.thread_time`), the server's
(``/proc/<pid>/stat``: its own process), and how the loop thread spent the wall time
(``/proc/thread-self/schedstat``: on a core, or runnable but waiting for one, as when
other processes hold the cores). Before each download the page cache's dirty pages are
written out (`os.sync`, untimed): a contender that does not fsync would otherwise leave
its writeback to the next one. The ratio of interest is ``sdk`` against ``aiohttp`` per
round; the target is at least 0.9x, for the default (with SHA-256); ``sdk-no-checksum``
against ``aiohttp`` is reported beside it.

The honest bound: SHA-256 alone is timed on 1 MiB blocks (CPU per MB). MB/s is the
cores a client uses divided by its CPU per MB, so sdk/aiohttp is (the SDK's cores / the
bare loop's) x (bare CPU per MB / the SDK's). A client that hashes does at least the
bare loop's work plus the hash, so from the medians (bare client ``b``, hash ``h``,
server ``s``, CPU ms per MB) the second factor is at most ``b / (b + h)`` on any
machine; only more cores than the bare loop's one thread lift the ratio above it, at
most to ``2b / (b + s + h)`` with both cores free. A last pass runs the rounds
again with this process pinned to one core and the server to the other
(``sched_setaffinity``). Linux only (``/proc``, affinity).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

import asyncsdk
from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._mediaserver import MediaServer

NAME = "media_throughput"
TITLE = "Recording download: one large file"
CHUNK = 256 * 1024


async def _sdk(info: dict[str, Any], rid: str, dest: Path) -> None:
    async with asyncsdk.Client(access_key=info["access_key"], base_url=info["base_url"]) as client:
        await client.download_recording(info["workspace"], rid, dest)


async def _sdk_no_checksum(info: dict[str, Any], rid: str, dest: Path) -> None:
    async with asyncsdk.Client(access_key=info["access_key"], base_url=info["base_url"]) as client:
        await client.download_recording(info["workspace"], rid, dest, checksum=None)


def _hand_written(
    *, hash_and_fsync: bool
) -> Callable[[dict[str, Any], str, Path], Awaitable[None]]:
    async def download(info: dict[str, Any], rid: str, dest: Path) -> None:
        url = f"{info['base_url']}/workspaces/{info['workspace']}/recordings/{rid}.mp3"
        auth = {"Authorization": f"AccessKey {info['access_key']}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers=auth, allow_redirects=False) as resp:
                location = resp.headers["Location"]
            digest = hashlib.sha256()
            async with session.get(location) as resp:
                resp.raise_for_status()
                with dest.open("wb") as file:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        file.write(chunk)
                        if hash_and_fsync:
                            digest.update(chunk)
                    if hash_and_fsync:
                        file.flush()
                        os.fsync(file.fileno())

    return download


CONTENDERS = {
    "sdk": _sdk,
    "sdk-no-checksum": _sdk_no_checksum,
    "aiohttp": _hand_written(hash_and_fsync=False),
    "aiohttp+sha256+fsync": _hand_written(hash_and_fsync=True),
}


LABELS = {
    "sdk": "SDK `download_recording`",
    "sdk-no-checksum": "SDK `download_recording(checksum=None)`",
    "aiohttp": "aiohttp loop",
    "aiohttp+sha256+fsync": "aiohttp loop + SHA-256 + fsync",
}
METRICS = {
    "mb_per_s": "MB/s",
    "cpu_ms_per_mb": "client CPU ms/MB",
    "cores": "client cores used (CPU / wall)",
    "loop_cpu_ms_per_mb": "loop thread CPU ms/MB",
    "drain_cpu_ms_per_mb": "other threads' CPU ms/MB (the drain)",
    "server_cpu_ms_per_mb": "server CPU ms/MB",
    "loop_busy": "loop thread busy (share of wall time)",
    "loop_waiting": "loop thread waiting for a core",
}
FULL = {"size_bytes": 200_000_000, "rounds": 7, "pinned_rounds": 3}
QUICK = {"size_bytes": 5_000_000, "rounds": 2, "pinned_rounds": 1}
_TICK = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``, every thread, from ``/proc``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _thread_sched() -> tuple[float, float]:
    """This thread's seconds on a core and runnable but waiting for one."""
    with open("/proc/thread-self/schedstat") as f:
        on_cpu, waiting, _ = f.read().split()
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def _download(name: str, info: dict[str, Any], dest: Path, size: int, server: int) -> Json:
    """One download by ``name``; return its metrics (see `METRICS`)."""
    os.sync()  # each starts with no dirty pages left by the one before
    sched, served = _thread_sched(), _process_cpu(server)
    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
    asyncio.run(CONTENDERS[name](info, info["recordings"][0][0], dest))
    wall = time.perf_counter() - wall
    cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
    served = _process_cpu(server) - served
    (on_cpu, waiting), (was_on, was_waiting) = _thread_sched(), sched
    on_cpu, waiting = on_cpu - was_on, waiting - was_waiting
    mb = size / 1e6
    return {
        "mb_per_s": mb / wall,
        "cpu_ms_per_mb": cpu * 1e3 / mb,
        "cores": cpu / wall,
        "loop_cpu_ms_per_mb": loop_cpu * 1e3 / mb,
        # the two clocks differ by microseconds: a one-thread loop's drain rounds to 0
        "drain_cpu_ms_per_mb": round(max(0.0, cpu - loop_cpu) * 1e3 / mb, 3),
        "server_cpu_ms_per_mb": served * 1e3 / mb,
        "loop_busy": (on_cpu + waiting) / wall,
        "loop_waiting": waiting / wall,
    }


def _sha256_of(path: Path) -> str:
    """The file's SHA-256, read in pieces: this process's peak RSS stays small (and
    with it the next scenario's children's, which inherit it across ``exec``)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _sha256_ms_per_mb(megabytes: int = 64) -> float:
    """Client CPU milliseconds per MB of `hashlib.sha256` alone, on 1 MiB blocks."""
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    cpu = time.process_time()
    for _ in range(megabytes):
        digest.update(block)
    return (time.process_time() - cpu) * 1e3 / (megabytes * (1 << 20) / 1e6)


def _rounds(
    server: MediaServer, folder: str, size: int, rounds: int, *, warm_up: bool
) -> dict[str, dict[str, list[float]]]:
    """Interleaved rounds of every contender; return metric -> contender -> samples."""
    samples: dict[str, dict[str, list[float]]] = {m: {k: [] for k in LABELS} for m in METRICS}
    sha = server.info["recordings"][0][1]
    for round_, order in enumerate(h.interleaved(LABELS, rounds + warm_up)):
        for name in order:  # a warm-up round first: connections, page cache
            dest = Path(folder) / f"{name}.mp3"
            got = _download(name, server.info, dest, size, server.pid)
            if name.startswith("sdk") and _sha256_of(dest) != sha:
                raise RuntimeError("the SDK's download differs from the server's object")
            dest.unlink()
            if round_ or not warm_up:
                for metric, value in got.items():
                    samples[metric][name].append(value)
    return samples


def _pinned(server: MediaServer, folder: str, size: int, rounds: int) -> Json | None:
    """The rounds again, this process on one core and the server on another."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or rounds < 1:
        return None
    mine = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cores[0]})  # the executor's threads, started later, inherit
        for task in os.listdir(f"/proc/{server.pid}/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task), {cores[1]})
        samples = _rounds(server, folder, size, rounds, warm_up=False)
    finally:
        os.sched_setaffinity(0, mine)
    return {"cores": cores[:2], "results": h.by_contender(LABELS, samples), "samples": samples}


def _ratios(rate: dict[str, list[float]]) -> Json:
    ratios = {f"sdk/{k}": h.paired_ratio(rate["sdk"], rate[k]) for k in LABELS if k != "sdk"}
    ratios["sdk-no-checksum/aiohttp"] = h.paired_ratio(rate["sdk-no-checksum"], rate["aiohttp"])
    return ratios


def bounds(bare: float, sha: float, server: float) -> dict[str, float]:
    """The most sdk/aiohttp a hashing client reaches, from CPU ms per MB (see the module).

    ``per_cpu``: MB per CPU second, against the bare loop's: it does the bare loop's work
    and the hash, ``b / (b + h)``, whatever the cores. ``two_free_cores``: MB/s with
    both cores free for the client and the server, against the bare loop at one core:
    ``2b / (b + s + h)`` (above 1 when the client's second thread does more than the
    bare loop's one can: a ratio, not a share).
    """
    return {
        "per_cpu": bare / (bare + sha),
        "two_free_cores": 2 * bare / (bare + server + sha),
    }


def stage_bounds(
    bare: float, loop: float, drain: float, client: float, server: float
) -> dict[str, float]:
    """The most sdk/aiohttp the SDK's two threads reach, from its own CPU ms per MB.

    Every byte passes through the event loop's thread (receiving) and the drain's
    (hashing, writing), one after the other, so MB/s is at most that of the busier one:
    ``pipeline`` is ``b / max(loop, drain)``, however many cores are free. ``two_cores``:
    both threads and the server on two cores, ``2b / (client + server)``.
    """
    return {
        "pipeline": bare / max(loop, drain),
        "two_cores": 2 * bare / (client + server),
    }


def _gap(measured: float, bound: float) -> str:
    """Say how far a CPU-per-MB ratio is from its bound, in words for the notes."""
    if measured >= 0.95 * bound:
        return "within 5% of it: the hash, and little else, on top of the bare loop's work"
    return f"{1 - measured / bound:.0%} below it: more than the hash on top of the bare loop"


def run(*, quick: bool = False) -> Json:
    """Measure the contenders in interleaved rounds; MB/s, CPU/MB, per-round ratios, bounds."""
    params = dict(QUICK if quick else FULL)
    load = os.getloadavg()
    sha_ms = _sha256_ms_per_mb(8 if quick else 64)
    size = params["size_bytes"]
    with (
        MediaServer("--count", "1", "--size", str(size)) as server,
        tempfile.TemporaryDirectory(dir=os.environ.get("MEDIA_BENCH_DIR")) as folder,
    ):
        samples = _rounds(server, folder, size, params["rounds"], warm_up=True)
        pinned = _pinned(server, folder, size, params["pinned_rounds"])
    results = h.by_contender(LABELS, samples)
    ratios = _ratios(samples["mb_per_s"])
    med = {k: {m: results[k][m]["median"] for m in METRICS} for k in LABELS}
    bare, served = med["aiohttp"]["cpu_ms_per_mb"], med["aiohttp"]["server_cpu_ms_per_mb"]
    bound = bounds(bare, sha_ms, served)
    cpu_ratio = {k: bare / med[k]["cpu_ms_per_mb"] for k in ("sdk", "sdk-no-checksum")}
    tables = [
        h.grid(
            "Per contender, median (min-max)",
            "contender",
            LABELS,
            METRICS,
            lambda k, m: h.fmt_range(results[k][m]),
        ),
        h.ratio_table("SDK against each peer (MB/s, per round)", ratios),
    ]
    notes = [
        "Dirty pages are written out (`os.sync`, untimed) before each download, so a "
        "contender that does not fsync leaves no writeback to the next one.",
        "The target is the default's (with SHA-256); `sdk-no-checksum/aiohttp` is the "
        "`checksum=None` option's ratio, reported beside it.",
        f"Client CPU per MB (medians): the bare loop {bare:.2f} ms, SHA-256 alone "
        f"{sha_ms:.2f} ms (`hashlib` on 1 MiB blocks), the SDK {med['sdk']['cpu_ms_per_mb']:.2f} "
        f"ms and with `checksum=None` {med['sdk-no-checksum']['cpu_ms_per_mb']:.2f} ms; the "
        f"server {served:.2f} ms per MB sent. The bare loop's thread was on a core or "
        f"waiting for one {med['aiohttp']['loop_busy']:.0%} of the time "
        f"({med['aiohttp']['loop_waiting']:.0%} waiting while other processes held the "
        "cores): it is CPU-bound, never waiting on the network or the server.",
        "The bound. MB/s is cores used divided by CPU per MB, so sdk/aiohttp is (the SDK's "
        "cores / the bare loop's) x (b / the SDK's CPU per MB). The second factor is at "
        f"most b / (b + h) = {bound['per_cpu']:.2f} for any client that hashes, on any "
        "machine: it does the bare loop's work and the hash. The SDK is at "
        f"{cpu_ratio['sdk']:.2f} by default ({_gap(cpu_ratio['sdk'], bound['per_cpu'])}) "
        f"and {cpu_ratio['sdk-no-checksum']:.2f} with `checksum=None`. Only the first "
        "factor lifts a hashing client above "
        f"{bound['per_cpu']:.2f}: the hash on another core than the loop. The bare loop "
        f"uses one core at most (one thread; {med['aiohttp']['cores']:.2f} here), the SDK "
        f"{med['sdk']['cores']:.2f} and {med['sdk-no-checksum']['cores']:.2f} with "
        "`checksum=None`. With both cores free for the client and the server (s ms per MB), "
        f"the most is 2b / (b + s + h) = {bound['two_free_cores']:.2f}; on a "
        "shared machine what the second thread gets depends on the other processes, "
        f"hence the spread of the per-round ratios ({ratios['sdk/aiohttp']['min']:.2f}-"
        f"{ratios['sdk/aiohttp']['max']:.2f}).",
    ]
    sdk = med["sdk"]
    stage = stage_bounds(
        bare,
        sdk["loop_cpu_ms_per_mb"],
        sdk["drain_cpu_ms_per_mb"],
        sdk["cpu_ms_per_mb"],
        sdk["server_cpu_ms_per_mb"],
    )
    notes.append(
        "Where the default's time goes (medians, CPU ms per MB): the event loop "
        f"{sdk['loop_cpu_ms_per_mb']:.2f}, the drain {sdk['drain_cpu_ms_per_mb']:.2f} "
        f"(SHA-256 {sha_ms:.2f}, the writes and the rest "
        f"{sdk['drain_cpu_ms_per_mb'] - sha_ms:.2f}; the bare loop's {bare:.2f} includes "
        "its writes). Each byte passes through both threads, so the SDK reaches at most "
        f"b / max(loop, drain) = {stage['pipeline']:.2f} of the bare loop's MB/s with every "
        "core it wants, and 2b / (its CPU + the server's) = "
        f"{stage['two_cores']:.2f} on two cores shared with the server; it reached "
        f"{ratios['sdk/aiohttp']['median']:.2f}. The drain hashes and writes: more than the "
        "bare loop's whole work whenever the hash costs more than its receiving, which no "
        "hand-off between the two threads changes."
    )
    extra: Json = {
        "bounds": bound,
        "stage_bounds": stage,
        "sha256_ms_per_mb": sha_ms,
        "cpu_ratio": cpu_ratio,
    }
    if pinned is not None:
        pinned_ratios = _ratios(pinned["samples"]["mb_per_s"])
        extra["pinned"] = {"cores": pinned["cores"], "results": pinned["results"]}
        extra["pinned"]["ratios"] = pinned_ratios
        tables.append(
            h.grid(
                f"Client pinned to core {pinned['cores'][0]}, server to core "
                f"{pinned['cores'][1]}: median (min-max)",
                "contender",
                LABELS,
                {m: METRICS[m] for m in ("mb_per_s", "cpu_ms_per_mb", "cores", "loop_waiting")},
                lambda k, m: h.fmt_range(pinned["results"][k][m]),
            )
        )
        tables.append(h.ratio_table("Pinned: SDK against each peer (MB/s)", pinned_ratios))
        pin = {k: pinned["results"][k]["cores"]["median"] for k in ("sdk", "aiohttp")}
        pin_cpu = {k: pinned["results"][k]["cpu_ms_per_mb"]["median"] for k in LABELS}
        notes.append(
            f"Pinned ({params['pinned_rounds']} rounds, this process on one core, the "
            "server on the other; that core still shared with the machine's other load): "
            f"sdk/aiohttp {h.fmt_ratio(pinned_ratios['sdk/aiohttp'])}, `checksum=None` "
            f"{h.fmt_ratio(pinned_ratios['sdk-no-checksum/aiohttp'])}. The SDK used "
            f"{pin['sdk']:.2f} of the core against the bare loop's {pin['aiohttp']:.2f}: on a "
            "core shared with other processes the scheduler gives each runnable thread its "
            "share, so the SDK's two (the loop, the drain) may take more of it than the bare "
            f"loop's one. Only a core to itself shows {bound['per_cpu']:.2f} in MB/s. On "
            f"one core the SDK spent {pin_cpu['sdk']:.2f} ms of CPU per MB against the "
            f"bare loop's {pin_cpu['aiohttp']:.2f} plus the hash's {sha_ms:.2f} "
            f"(`checksum=None` {pin_cpu['sdk-no-checksum']:.2f}): what it spends beyond "
            "them on two free cores is the price of its two threads running at once."
        )
    notes.append(
        f"Load average (1 min) at the start and the end of the run: {load[0]:.2f}, "
        f"{os.getloadavg()[0]:.2f}; the machine is shared, so MB/s varies from round "
        "to round: the ratios pair each round's contenders."
    )
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"One {size / 1e6:,.0f} MB recording over loopback (Bird's 307, then the object "
            "store's body) to a file, the embedded server in its own process; the SDK "
            "(`.part`, SHA-256 while writing, length check, fsync, rename), and the SDK "
            "with `checksum=None`, against a hand-written aiohttp loop, bare and with the "
            "same hash and fsync; then what this machine allows a client that hashes."
        ),
        parameters=params,
        results=results,
        ratios=ratios,
        targets=[
            h.target(
                "sdk/aiohttp >= 0.9",
                ratios["sdk/aiohttp"]["median"],
                ">=",
                0.9,
                "median of per-round ratios, MB/s",
            ),
        ],
        tables=tables,
        chart={
            "title": "One large recording (MB/s, median; bars show min-max)",
            "xlabel": "MB per second",
            "groups": {"download": {LABELS[k]: results[k]["mb_per_s"] for k in LABELS}},
        },
        notes=notes,
        **extra,
    )


if __name__ == "__main__":
    h.scenario_main(run)
