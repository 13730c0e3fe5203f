"""Chaos, bounded (issue 15, "Done when"): `batch --resume` killed at random points (SIGKILL or
SIGTERM, to the batch alone or to its process group) keeps every input exactly once in the
results and leaves no temporary file. The full campaign (50 runs) is bench/chaos.py."""

from __future__ import annotations

from bench.chaos import run_chaos


def test_random_kills_then_resume_keep_every_input_exactly_once_and_no_temp_file(tmp_path):
    report = run_chaos(tmp_path, runs=6, per_run=4, seed=15)  # kill points inside a calibrated batch
    results = report["results"]
    assert sum(report["kills"].values()) >= 3, report  # the chaos happened
    assert results["inputs_missing"] == [] and results["inputs_more_than_once"] == [], report
    assert results["inputs_exactly_once"] == report["inputs"] == results["lines"]
    assert report["temp_files_left"] == [], report
    assert report["history_db"]["integrity"] == "ok"
    # Rows recorded twice or lost in the history database are the database's side of issue 15
    # (F10: upsert keyed by the resume key, results line first), counted by bench/chaos.py.
