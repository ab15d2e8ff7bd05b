"""The checkpoint file of ``asyncsdk export``, and how the output is made durable.

`ExportState` is the file's content: the listing's checkpoint and the length of the
output it covers. `prepare` checks the output and checkpoint before any request, and
`cut_back` cuts the output back to the checkpointed length once the listing has
accepted the checkpoint; `Checkpointer` makes each page durable
and then checkpoints it, in order, on one worker thread, so the event loop keeps
receiving pages while the disk catches up.

The rule that makes an export exactly-once lives here: a checkpoint is written only
after the output's first ``output_bytes`` bytes are fsynced. A checkpoint may be
skipped when a newer one is already waiting (the newer covers it); never reordered.

The atomic replacement is the standard library's (a temporary file, fsync,
`os.replace`, fsync of the directory): a few lines, where the one package for it
(atomicwrites) is no longer maintained.

Imports: msgspec, the SDK's public API and the standard library.
"""

from __future__ import annotations

import argparse
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import msgspec

import asyncsdk

from ._common import UsageError

__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpointer",
    "ExportState",
    "cut_back",
    "prepare",
    "write_state",
]

#: Format version of the checkpoint file.
CHECKPOINT_VERSION = 1


class ExportState(msgspec.Struct, kw_only=True, rename="camel"):
    """The checkpoint file: the listing's checkpoint and the output it covers."""

    version: int = CHECKPOINT_VERSION
    output_bytes: int
    calls: int
    pages: int
    listing: asyncsdk.ListingCheckpoint


def write_state(path: Path, state: ExportState | bytes) -> None:
    """Replace the checkpoint file atomically and durably."""
    data = state if isinstance(state, bytes) else msgspec.json.encode(state)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_state(path: Path) -> ExportState:
    try:
        state = msgspec.json.decode(path.read_bytes(), type=ExportState)
    except (OSError, msgspec.MsgspecError) as exc:
        raise UsageError(f"cannot read the checkpoint {path}: {exc}") from exc
    if state.version != CHECKPOINT_VERSION:
        raise UsageError(f"{path} is a checkpoint of version {state.version}; not supported")
    return state


def prepare(args: argparse.Namespace, out: Path, checkpoint: Path) -> ExportState | None:
    """Check the files before any request; `cut_back` trims the output afterwards.

    Returns:
        The state to resume from, or ``None`` to start afresh.

    Raises:
        UsageError: The files do not belong together, or ``--resume`` is missing.
    """
    has_output = out.exists() and out.stat().st_size > 0
    if not args.resume:
        if has_output:
            raise UsageError(f"{out} exists; pass --resume to continue it, or remove it")
        if checkpoint.exists():
            raise UsageError(f"{checkpoint} exists; pass --resume to continue, or remove it")
        return None
    if not checkpoint.exists():
        if has_output:
            raise UsageError(
                f"{out} exists but its checkpoint {checkpoint} does not: not an export "
                "to resume (pass --checkpoint if it is elsewhere)"
            )
        return None
    state = _read_state(checkpoint)
    size = out.stat().st_size if out.exists() else 0
    if size < state.output_bytes:
        raise UsageError(
            f"{out} holds {size} bytes but its checkpoint counts {state.output_bytes}: "
            "the output was changed; not resuming into it"
        )
    return state


def cut_back(out: Path, state: ExportState) -> None:
    """Cut the output back to the length ``state`` counts; the lines after it are listed again.

    Call it only once the listing has accepted the checkpoint: a checkpoint refused
    (other filters, another window) must leave the output as it was.
    """
    if out.exists() and out.stat().st_size > state.output_bytes:
        with out.open("r+b") as f:
            f.truncate(state.output_bytes)
            f.flush()
            os.fsync(f.fileno())


class Checkpointer:
    """Fsyncs the output and writes checkpoints on one worker thread, in order.

    `submit` hands over the state after a page's lines were written and flushed (so the
    bytes it counts are in the file); the worker fsyncs the output, then writes the
    checkpoint. If several are waiting, only the newest is written. `close` waits for
    the worker and writes the final state itself. A failure of the worker (a full disk)
    is raised by the next `submit`; `close` retries a failed checkpoint write, but never
    writes one after a failed fsync of the output.

    Args:
        output: The output file (its descriptor is fsynced).
        path: The checkpoint file.
    """

    def __init__(self, output: BinaryIO, path: Path) -> None:
        self._fd = output.fileno()
        self._path = path
        self._lock = threading.Lock()
        self._waiting: bytes | None = None
        self._busy = False
        self._error: BaseException | None = None
        self._output_error: BaseException | None = None  # a failed fsync of the output
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="asyncsdk-checkpoint")

    def submit(self, state: ExportState) -> None:
        """Checkpoint ``state`` once the output it counts is on disk."""
        self._raise()
        data = msgspec.json.encode(state)
        with self._lock:
            self._waiting = data
            if self._busy:
                return
            self._busy = True
        self._executor.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                data, self._waiting = self._waiting, None
                if data is None:
                    self._busy = False
                    return
            try:
                os.fsync(self._fd)
            except BaseException as exc:
                # Sticky: Linux reports a failed writeback to one fsync only, and the
                # next returns 0 although the pages may be lost. No checkpoint may
                # count the output after this.
                with self._lock:
                    self._output_error, self._busy, self._waiting = exc, False, None
                return
            try:
                write_state(self._path, data)
            except BaseException as exc:  # raised in the loop's thread, see _raise
                with self._lock:
                    self._error, self._busy, self._waiting = exc, False, None
                return

    def _raise(self) -> None:
        if self._output_error is not None:
            raise self._output_error
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self, final: ExportState) -> None:
        """Wait for the worker, then make ``final`` durable (blocking, a few ms).

        After a failed checkpoint write it tries again: a checkpoint that reaches the
        disk now supersedes the ones that did not (the file is replaced whole, so the
        one on disk is always a consistent, if older, checkpoint). After a failed fsync
        of the output it writes nothing and raises that error: those bytes may be lost
        whatever a later fsync says. Either way the checkpoint on disk counts only
        output that is on disk, and ``--resume`` cuts the rest.

        Raises:
            OSError: The output could not be made durable, or the final checkpoint
                could not be written.
        """
        self._executor.shutdown(wait=True)
        if self._output_error is not None:
            raise self._output_error
        self._error = None
        os.fsync(self._fd)
        write_state(self._path, final)
