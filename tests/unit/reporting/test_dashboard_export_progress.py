"""An export job's progress in words (exports/jobs.py `phase`): never "0 of ?" beside a percentage; reading n of a
known total, then writing the file, then done."""

from __future__ import annotations

from services.reporting.exports.jobs import phase


def test_a_job_says_where_it_stands() -> None:
    assert phase("queued", 0, 120) == "waiting to start"
    assert phase("running", 0, 1200) == "reading passports: 0 of 1,200"
    assert phase("running", 500, 1200) == "reading passports: 500 of 1,200"
    assert phase("running", 1200, 1200) == "writing the file"  # every passport read: the file is being made
    assert phase("done", 1200, 1200) == "done"
    assert phase("failed", 3, 1200) == "failed"


def test_a_job_queued_before_totals_were_counted_says_so_without_a_question_mark() -> None:
    assert phase("running", 0, None) == "reading passports"
