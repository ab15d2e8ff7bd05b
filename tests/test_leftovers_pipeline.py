"""The demo's tally of database rows names the rows without a status, and adds up."""

from __future__ import annotations

from asyncsdk.cli._pipeline import NO_STATUS, PipelineReport, describe, tally_statuses

ROWS = ["completed"] * 30 + [None] * 10 + ["no-answer"] * 4 + [""] * 5 + ["busy"]


def test_rows_without_a_status_are_counted_under_a_readable_label() -> None:
    tally = tally_statuses(ROWS)
    assert tally == {"completed": 30, NO_STATUS: 15, "no-answer": 4, "busy": 1}
    assert sum(tally.values()) == len(ROWS)


def test_the_summary_line_shows_the_label_and_the_total() -> None:
    report = PipelineReport(statuses=tally_statuses(ROWS))
    (line,) = [text for text in describe(report) if text.startswith("database rows")]
    assert "'-'" not in line and "-:" not in line
    assert line.endswith("50 (busy 1, completed 30, no-answer 4, no status 15)")


def test_an_empty_database_reads_as_zero_rows() -> None:
    report = PipelineReport(statuses=tally_statuses([]))
    assert "database rows     0" in describe(report)
