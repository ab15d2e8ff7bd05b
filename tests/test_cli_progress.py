"""The progress report: its last line, after a run ended or stopped, promises no ETA."""

from __future__ import annotations

import io

from asyncsdk.cli._progress import Progress


def test_the_last_line_of_a_stopped_run_has_no_eta() -> None:
    out = io.StringIO()
    progress = Progress(3000, stream=out)
    progress.advance(failed=True)
    assert "ETA" in progress.line()  # while running
    progress.finish()
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("progress: 1/3000") and "failed 1" in last
    assert "ETA" not in last
