"""Render scenario results into ``docs/benchmarks.md`` and a PNG bar chart.

Rendering is generic: it reads only the keys `benchmarks._harness.make_result` fills
(``tables``, ``targets``, ``chart``, ``notes``), so a new scenario needs no code here.

Imports: the standard library, and matplotlib (Agg backend) for the chart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._harness import Json, fmt

CAVEAT = (
    "> **Read this first.** These numbers come from a shared, noisy virtual machine with "
    "2 cores, while other work was running. Absolute numbers will differ on your machine "
    "and from run to run; **the ratios between contenders measured in the same run are what "
    "matter**. Each contender runs in its own process and rounds are interleaved "
    "(A B C, B C A, ...) so that a slow spell hits all of them; ratios are taken per round "
    "and summarized as median (min-max). Targets are reported, never asserted."
)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    align = ["---"] + ["--:"] * (len(columns) - 1)
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _environment(result: Json) -> list[str]:
    m, py, pk = result["machine"], result["python"], result["packages"]
    load = m.get("load_average_1_5_15_min")
    versions = ", ".join(f"{k} {v}" for k, v in pk.items() if v and "_" not in k)
    commit = f" (commit `{pk['asyncsdk_commit']}`)" if pk.get("asyncsdk_commit") else ""
    return [
        f"- **Machine:** {m['cpu']}, {m['cores']} cores, {m['arch']}, {m['os']}"
        + (f"; load average at start {load[0]}, {load[1]}, {load[2]}" if load else ""),
        f"- **Python:** {py['implementation']} {py['version']} ({py['compiler']})",
        f"- **Packages:** {versions}{commit}",
        f"- **Run:** {result['timestamp']}",
    ]


def render_markdown(results: Sequence[Json], *, image: str | None) -> str:
    """Return the results page: caveat, environment, a section per scenario, the chart."""
    lines = ["# Benchmarks", "", CAVEAT, ""]
    if results:
        lines += [*_environment(results[0]), ""]
    lines += [
        "Reproduce with `python -m benchmarks.run` (full, a few minutes) or "
        "`python -m benchmarks.run --quick` (smoke run); one scenario alone with "
        "`python -m benchmarks.decode --quick`. Raw results, with every sample, are in "
        "`benchmarks/results/<scenario>.json`.",
        "",
    ]
    if image:
        lines += [f"![Benchmark results]({image})", ""]
    targets = [(r["title"], t) for r in results for t in r["targets"]]
    if targets:
        lines += ["## Targets", ""]
        lines += _md_table(
            ["scenario", "target", "measured", "status"],
            [
                [title, f"{t['name']}", f"{t['value']:.2f}", "met" if t["met"] else "**missed**"]
                for title, t in targets
            ],
        )
        lines += [""]
    for r in results:
        lines += [f"## {r['title']}", "", r["description"], ""]
        params = {k: v for k, v in r["parameters"].items() if not isinstance(v, dict)}
        lines += ["Parameters: " + ", ".join(f"`{k}={v}`" for k, v in params.items()), ""]
        for table in r["tables"]:
            lines += [f"**{table['title']}**", ""]
            lines += [*_md_table(table["columns"], table["rows"]), ""]
        for t in r["targets"]:
            status = "met" if t["met"] else "**missed**"
            lines += [
                f"- Target `{t['name']}`: measured {t['value']:.2f} — {status} ({t['basis']})."
            ]
        lines += [f"- {note}" for note in r["notes"]]
        lines += [""]
        for chart in r.get("line_charts", []):
            lines += [f"![{chart['title']}]({chart['file']})", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_line_charts(results: Sequence[Json], docs: Path) -> None:
    """Draw each result's ``line_charts`` (series over time) into ``docs/<file>``.

    A line chart is ``{"title", "file", "dt", "ylabel", "series": {label: [y, ...]},
    "reference": {label: [y, ...]}, "spans": [[start, end, label], ...]}``: series are
    sampled every ``dt`` seconds; references are drawn dashed (a server's limit).
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for r in results:
        for chart in r.get("line_charts", []):
            fig, ax = plt.subplots(figsize=(9, 3.2))
            dt = chart["dt"]
            for label, ys in chart["series"].items():
                ax.plot([i * dt for i in range(len(ys))], ys, label=label, linewidth=1.2)
            for label, ys in chart.get("reference", {}).items():
                xs = [i * dt for i in range(len(ys))]
                ax.plot(xs, ys, "k--", label=label, linewidth=1)
            for start, end, label in chart.get("spans", []):
                ax.axvspan(start, end, color="red", alpha=0.08, label=label)
            ax.set_title(chart["title"], fontsize=10)
            ax.set_xlabel("seconds since the first request", fontsize=8)
            ax.set_ylabel(chart["ylabel"], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7, loc="upper right")
            fig.tight_layout()
            path = docs / chart["file"]
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=100)
            plt.close(fig)


def render_chart(results: Sequence[Json], path: Path) -> bool:
    """Draw one horizontal bar panel per scenario that has a chart; return False if none."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = [r["chart"] for r in results if r.get("chart")]
    if not charts:
        return False
    heights = [1.0 + 0.3 * sum(len(g) + 1 for g in c["groups"].values()) for c in charts]
    fig, axes = plt.subplots(
        len(charts),
        1,
        figsize=(10, sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    palette = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]
    colors: dict[str, Any] = {}  # one colour per contender, the same in every panel
    for chart in charts:
        for group in chart["groups"].values():
            for name in group:
                colors.setdefault(name, palette[len(colors) % len(palette)])
    for ax, chart in zip(axes[:, 0], charts, strict=True):
        groups = chart["groups"]
        single = len(groups) == 1
        bar_names: list[str] = []
        for group in groups.values():
            bar_names += [b for b in group if b not in bar_names]
        y = 0.0
        ticks: list[float] = []
        labels: list[str] = []
        for group_label, bars in reversed(list(groups.items())):
            first = y
            for name in reversed(bar_names):
                if name not in bars:
                    continue
                s = bars[name]
                err = None
                if "min" in s and "max" in s:
                    err = [[s["median"] - s["min"]], [s["max"] - s["median"]]]
                ax.barh(y, s["median"], xerr=err, color=colors[name], capsize=2, height=0.8)
                ax.text(
                    s.get("max", s["median"]), y, f"  {fmt(s['median'])}", va="center", fontsize=7
                )
                if single:
                    ticks.append(y)
                    labels.append(name)
                y += 1
            if not single:
                ticks.append((first + y - 1) / 2)
                labels.append(group_label)
            y += 0.8
        ax.set_yticks(ticks, labels, fontsize=8)
        ax.set_title(chart["title"], fontsize=10)
        ax.set_xlabel(chart["xlabel"], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        # Thousands separators for counts; ScalarFormatter's decimals for ratios (0..1).
        if ax.get_xlim()[1] > 10:
            ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.margins(x=0.12, y=0.02)
        if not single:
            handles = [matplotlib.patches.Patch(color=colors[n], label=n) for n in bar_names]
            ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
