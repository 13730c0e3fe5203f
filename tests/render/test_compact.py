"""The compact document batch and the history store keep: every verdict still listed,
the best candidates with their evidence, and small (issue 15, F14: ~174 KB before)."""

from __future__ import annotations

import json

import pytest

from gsotriage.analysis import analyze_path
from gsotriage.analysis.document import compact_document
from tests.conftest import CASES

REAL = [
    CASES / "calico-11424-seed-github-issue.txt",
    CASES / "calico-6865-rhel86-skb_segment-bug-excerpt.txt",
    CASES / "factory-6.1-neg-sysrq-crash-console.txt",
    CASES / "commit-3382a1ed7f77-skb_segment-bug-mtk.txt",
]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_compact_keeps_every_verdict_and_the_answer(path, library):
    full = analyze_path(str(path), library).document
    small = compact_document(full)
    assert small["compact"] is True
    assert [v["signature"] for v in small["verdicts"]] == [v["signature"] for v in full["verdicts"]]
    assert small["summary"] == full["summary"] and small["report"] == full["report"]
    candidates = [v for v in small["verdicts"] if v["status"] != "ruled-out"]
    if candidates:
        assert candidates[0]["evidence"], "the best candidate keeps its evidence"
    for v in small["verdicts"]:
        if v["status"] == "ruled-out":
            assert v["contradicted_by"], v["signature"]
    size = len(json.dumps(small, separators=(",", ":")))
    assert size < 30_000, f"{size} bytes"
    assert size < len(json.dumps(full, separators=(",", ":"))) / 4
