"""Session fixtures for the batch tests: one real 300-input batch shared by several tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.batch.helpers import make_corpus, run_cli


@pytest.fixture(scope="session")
def corpus300(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus300")
    make_corpus(d / "inputs", 300)
    return d


@pytest.fixture(scope="session")
def batch300(corpus300):
    """One real batch over 300 inputs with 2 workers, recorded into its own database."""
    out = corpus300 / "results.jsonl"
    if out.exists():
        return corpus300
    p = run_cli(
        corpus300,
        "batch",
        "inputs",
        "-o",
        str(out),
        "--jobs",
        "2",
        "--db",
        str(corpus300 / "history.sqlite3"),
        "--format",
        "json",
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    (corpus300 / "summary.json").write_text(p.stdout)
    (corpus300 / "stderr.txt").write_text(p.stderr)
    return corpus300
