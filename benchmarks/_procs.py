"""Child processes for the benchmarks: one-shot, persistent, servers, fleets started together.

A scenario's own child is ``python -m benchmarks.<scenario> --worker ARGS``, dispatched by
`benchmarks._harness.scenario_main` to the scenario's worker function:

* `run_json` -- one fresh interpreter that prints one JSON line;
* `Worker` -- a persistent process answering JSON requests line by line (`serve`), so the
  parent can interleave rounds A B C, B C A, ... across isolated processes;
* `run_together` -- several processes that each print ``ready``, start on one ``go`` line,
  and print one JSON line each;
* `Announced` -- a server child (``asyncsdk.server`` and the like) whose first line is
  ``serving URL workspace=WS channel=CH``, stopped with SIGINT.

subprocess and json cover it; no process library would say less. Imports: the standard
library only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, Any]
#: Seconds a child may take to start, or to stop once asked.
STOP_TIMEOUT = 60.0


def child_env() -> dict[str, str]:
    """The environment of every child: this source tree importable, hashing fixed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONHASHSEED"] = "0"
    return env


def _popen(argv: Sequence[str], *, stdin: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def _last_json(out: str) -> Json:
    result: Json = json.loads(out.strip().splitlines()[-1])
    return result


def run_json(module: str, args: Sequence[str], *, timeout: float = 600) -> Json:
    """Run ``module``'s worker with ``args`` in a fresh interpreter; parse its last line."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--worker", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr}")
    return _last_json(proc.stdout)


class Worker:
    """A persistent ``python -m module --worker *args`` answering one JSON line per request."""

    def __init__(self, module: str, args: Sequence[str]) -> None:
        self.label = f"{module} {' '.join(args)}"
        self._proc = _popen([module, "--worker", *args], stdin=True)

    def read(self) -> Json:
        """Read the next JSON line the worker prints (its hello, or an answer)."""
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label!r} exited (code {self._proc.wait()})")
        reply: Json = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"worker {self.label!r}: {reply['error']}")
        return reply

    def request(self, message: Json) -> Json:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        """Close its stdin (the worker's signal to stop), wait, kill it if it hangs."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(handle: Callable[[Json], Json]) -> None:
    """Answer requests from a parent `Worker`: one JSON line in, one JSON line out."""
    for line in sys.stdin:
        try:
            reply = handle(json.loads(line))
        except Exception as exc:  # report to the parent instead of dying mid-protocol
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def wait_for_go() -> None:
    """In a `run_together` child: say ``ready``, then block until the parent says go."""
    print("ready", flush=True)
    sys.stdin.readline()


def run_together(
    module: str, argvs: Sequence[Sequence[str]], *, timeout: float
) -> tuple[float, list[Json]]:
    """Start one worker per ``argvs``, release them at once, return (go time, their JSON).

    Each child calls `wait_for_go` once it is set up (imports, IDs), so that interpreter
    start-up is not part of the common start; ``timeout`` bounds the run after go.
    """
    procs = [_popen([module, "--worker", *argv], stdin=True) for argv in argvs]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {module} worker did not start (code {proc.poll()})")
        go = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [proc.communicate(timeout=timeout)[0] for proc in procs]
        if any(proc.returncode for proc in procs):
            raise RuntimeError(f"a {module} worker exited with {[p.returncode for p in procs]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return go, [_last_json(out) for out in outs]


#: The line the embedded server prints once it is up (``asyncsdk.server`` ``describe``).
ANNOUNCEMENT = re.compile(r"serving (?P<url>http://\S+) workspace=(?P<ws>\S+) channel=(?P<ch>\S+)")


class Announced:
    """A server child that announces where it serves; a context manager that stops it.

    Args:
        module: Run as ``python -m module *argv`` (``asyncsdk.server``,
            ``benchmarks._serverproc``).
        argv: Its options.
    """

    def __init__(self, module: str, argv: Sequence[str]) -> None:
        self._proc = _popen([module, *argv], stdin=False)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        found = ANNOUNCEMENT.search(line)
        if found is None:
            self.kill()
            raise RuntimeError(f"{module} did not announce itself: {line!r}")
        self.base_url: str = found["url"]
        self.workspace_id = uuid.UUID(found["ws"])
        self.channel_id = uuid.UUID(found["ch"])

    def stop(self) -> str:
        """Stop the server (SIGINT) and return what it printed after its announcement."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            out, _ = self._proc.communicate(timeout=STOP_TIMEOUT)
        finally:
            self.kill()
        return out

    def kill(self) -> None:
        """Kill the server if it still runs (after a failure)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Announced:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
