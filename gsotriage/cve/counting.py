"""What counts as a GSO/GRO/offload class of the library (issue 12's yardstick).

A class counts when it is a specific (non-generic) signature with a fix commit,
per-branch fix data for that fix (the stable releases that carry it, or the CVE
record's statement about unlisted branches) and a real positive case (verbatim
public output or a factory dump). Mined and hand-written classes count alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence

from gsotriage.match.signature import Signature

__all__ = ["ClassCount", "class_counts", "counted"]

_POSITIVE = ("match", "partial", "match-or-partial")


def _branch_data(sig: Signature) -> bool:
    return any(f.stable or f.stable_commits or f.unlisted for f in sig.fixed_by)


def _real_positive(sig: Signature) -> bool:
    return any(t.expect in _POSITIVE and t.provenance in ("real", "factory") for t in sig.tests)


def counted(sig: Signature) -> bool:
    return not sig.generic and bool(sig.fixed_by) and _branch_data(sig) and _real_positive(sig)


@dataclass(frozen=True)
class ClassCount:
    classes: int  # specific (non-generic) signatures
    with_fix: int
    with_branch_data: int
    with_real_positive: int
    counted: int
    mined: int  # of the counted, maturity 'mined'
    missing: Dict[str, List[str]]  # id -> what it lacks, for the specific classes not counted

    def to_dict(self) -> Dict[str, object]:
        return dict(self.__dict__)


def class_counts(signatures: Sequence[Signature]) -> ClassCount:
    specific = [s for s in signatures if not s.generic]
    missing: Dict[str, List[str]] = {}
    for s in specific:
        lacks = [
            what
            for what, ok in (
                ("fix commit", bool(s.fixed_by)),
                ("per-branch fix data", _branch_data(s)),
                ("real positive case", _real_positive(s)),
            )
            if not ok
        ]
        if lacks:
            missing[s.id] = lacks
    done = [s for s in specific if counted(s)]
    return ClassCount(
        classes=len(specific),
        with_fix=sum(1 for s in specific if s.fixed_by),
        with_branch_data=sum(1 for s in specific if _branch_data(s)),
        with_real_positive=sum(1 for s in specific if _real_positive(s)),
        counted=len(done),
        mined=sum(1 for s in done if s.maturity == "mined"),
        missing=missing,
    )
