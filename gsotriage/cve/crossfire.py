"""Discrimination at library size: every signature's positive cases against every signature."""

from __future__ import annotations

from typing import List, Sequence, Tuple

from gsotriage.analysis.selftest import POSITIVE, load_case_report
from gsotriage.cve.summary import CrossFire
from gsotriage.match.engine import MATCH, diagnose
from gsotriage.match.signature import Signature

__all__ = ["cross_fire"]


def cross_fire(library: Sequence[Signature]) -> Tuple[List[CrossFire], int, int]:
    """Run every positive case of every signature through the whole library.

    Cross-fire: another signature is the top verdict, not a refinement of this one,
    not a generic class, and the diagnosis is not ambiguous between the two (an
    ambiguity names both and the observables that would decide: that is a tie, not
    a wrong answer), although this one fully matched or the winner is a mined
    signature (a mined class must never win on what it merely shares). Also
    returned: how many positives end in such a tie, and how many are a person's
    partial signature outranked by another person's (console text that cannot decide
    between two hand-written classes: an ambiguity of the evidence, not the
    importer's doing)."""
    fired: List[CrossFire] = []
    ties = ambiguous = 0
    for sig in library:
        for case in sig.tests:
            if case.expect not in POSITIVE:
                continue
            try:
                report = load_case_report(sig, case)
            except Exception:  # noqa: S112 - a broken case is the self-test's to report
                continue
            diag = diagnose(report, library)
            top = diag.top
            if top is None or top.signature.id == sig.id:
                continue
            mine = next(v for v in diag.verdicts if v.signature.id == sig.id)
            rivals = {v.signature.id for v in diag.ambiguity.candidates} if diag.ambiguity else set()
            if mine.tie or sig.id in rivals:
                ties += 1
                continue
            if sig.refines == top.signature.id or top.signature.refines == sig.id or top.signature.generic:
                continue
            if mine.status == MATCH or "mined" in top.signature.tags:
                fired.append(CrossFire(sig.id, case.name, top.signature.id, top.tie))
            else:
                ambiguous += 1
    return fired, ties, ambiguous
