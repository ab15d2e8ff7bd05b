"""Where a client's CPU goes: one round under cProfile, the SDK's set against a peer's.

``client_cost`` uses it when the SDK misses its CPU target: `profile_round` in each of
the two workers, `compare_profiles` in the parent, `profile_notes` for the page. Times
are microseconds per request; cProfile inflates them, most for many small Python calls.
The standard library's pstats reports one profile, not the difference of two.

Imports: the standard library and the harness.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from typing import Any

from benchmarks._harness import ROOT, Json, fmt

TOP = 8
#: Functions cheaper than this (us of own time per request) are left out of a profile.
FLOOR_US = 0.05


def profile_round(round_: Callable[[], object], n: int) -> Json:
    """Run ``round_`` (``n`` requests) under cProfile; return us per request by function."""
    profiler = cProfile.Profile()
    profiler.enable()
    round_()
    profiler.disable()
    stats: Any = pstats.Stats(profiler).stats  # {(file, line, fn): (cc, nc, tt, ct, callers)}
    own: Json = {}
    cumulative: Json = {}
    for (file, line, fn), (_cc, _calls, tt, ct, _callers) in stats.items():
        where = file.rsplit("site-packages/", 1)[-1].rsplit(str(ROOT) + "/", 1)[-1]
        name = f"{where}:{line}({fn})"
        if tt / n * 1e6 >= FLOOR_US:
            own[name] = own.get(name, 0.0) + tt / n * 1e6
        if where.startswith("asyncsdk/"):
            cumulative[name] = ct / n * 1e6
    return {"calls": n, "own_us": own, "cumulative_us": cumulative}


def _group(function: str) -> str:
    """Name the package a profiled function belongs to."""
    if function.startswith("~:0("):
        return "C builtins"
    if function.startswith(("asyncsdk/", "benchmarks/")):
        return "asyncsdk / the loop"
    if "/asyncio/" in function:
        return "asyncio"
    if function.startswith("/"):
        return "other stdlib"
    return function.split("/", 1)[0]


def compare_profiles(sdk: Json, handwritten: Json) -> Json:
    """Rank the SDK's functions, and its own time per request by package against the loop's."""

    def top(table: Json) -> list[list[Any]]:
        ranked = sorted(table.items(), key=lambda item: item[1], reverse=True)[:TOP]
        return [[name, round(us, 2)] for name, us in ranked]

    def by_group(own: Json) -> dict[str, float]:
        groups: dict[str, float] = {}
        for name, us in own.items():
            groups[_group(name)] = groups.get(_group(name), 0.0) + us
        return groups

    base = handwritten["own_us"]
    extra = {name: us - base.get(name, 0.0) for name, us in sdk["own_us"].items()}
    sdk_groups, base_groups = by_group(sdk["own_us"]), by_group(base)
    return {
        "calls": sdk["calls"],
        "sdk_own_us_total": round(sum(sdk["own_us"].values()), 1),
        "handwritten_own_us_total": round(sum(base.values()), 1),
        "own_us_by_package": {
            group: {
                "sdk": round(sdk_groups.get(group, 0.0), 1),
                "handwritten": round(base_groups.get(group, 0.0), 1),
            }
            for group in sorted(
                sdk_groups.keys() | base_groups.keys(),
                key=lambda g: -(sdk_groups.get(g, 0.0) + base_groups.get(g, 0.0)),
            )
        },
        "sdk_top_cumulative_us": top(sdk["cumulative_us"]),
        "sdk_top_own_us": top(sdk["own_us"]),
        "sdk_top_extra_own_us": top({name: us for name, us in extra.items() if us > 0}),
    }


def profile_notes(profile: Json) -> list[str]:
    def listing(rows: list[list[Any]]) -> str:
        return "; ".join(f"`{name}` {fmt(us)}" for name, us in rows[:6])

    packages = "; ".join(
        f"{group} {fmt(v['sdk'])} vs {fmt(v['handwritten'])}"
        for group, v in profile["own_us_by_package"].items()
    )
    return [
        "Profile hint (the SDK missed its CPU target): the SDK and hand-written workers each "
        f"ran one round of {profile['calls']} requests under cProfile, which inflates every "
        "figure, most for code that makes many small Python calls. Own us per request, all "
        f"functions: SDK {fmt(profile['sdk_own_us_total'])}, hand-written "
        f"{fmt(profile['handwritten_own_us_total'])}; by package, SDK vs hand-written: "
        f"{packages}.",
        "asyncsdk functions by cumulative us per request: "
        + listing(profile["sdk_top_cumulative_us"])
        + ". Functions by extra own us per request in the SDK over the hand-written loop "
        "(matched by name, so the loop's own `fetch` is not set against `_transport.get`): "
        + listing(profile["sdk_top_extra_own_us"])
        + ". Full lists in results.sdk_profile.",
    ]
