"""Join the chunk files of an export into one JSON Lines stream, and report what is missing.

Run::

    python -m examples.fleet.collect OUT_DIR > calls.jsonl

Chunk files are read in name order; a torn last line (a worker still running, or
killed) is left out. The summary on stderr counts calls and lists failure files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path


def chunk_files(out_dir: Path) -> list[Path]:
    return sorted(
        p for p in out_dir.glob("chunk-*.jsonl") if not p.name.endswith(".failures.jsonl")
    )


def iter_lines(out_dir: Path) -> Iterator[bytes]:
    """Every complete line of every chunk file, in order."""
    for path in chunk_files(out_dir):
        with path.open("rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    yield line


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fleet.collect")
    parser.add_argument("out_dir", type=Path)
    ns = parser.parse_args()
    count = 0
    for line in iter_lines(ns.out_dir):
        sys.stdout.buffer.write(line)
        count += 1
    failures = sorted(ns.out_dir.glob("*.failures.jsonl"))
    print(f"{count} calls from {len(chunk_files(ns.out_dir))} chunks", file=sys.stderr)
    for path in failures:
        print(f"failures: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
