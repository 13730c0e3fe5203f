"""Real negative cases from the records themselves.

Two uses: every mined signature gets its nearest real look-alike as a negative
test (the record trace, of another fix, that shares most of its frames and that
the signature rules out), and a fixed set of networking crashes that are *not*
GSO/GRO fixes (netfilter, xfrm, bridge, driver xmit/rx, other protocols) checks
that no GSO root cause is named on them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from gsotriage.cve.corpus import Analysed, detector_report, negative_category
from gsotriage.kernel.frames import is_distinctive
from gsotriage.match.engine import RULED_OUT, diagnose, evaluate_signature
from gsotriage.match.signature import Signature

__all__ = ["nearest_negative", "non_gso_set"]

PER_CATEGORY = 8
_CANDIDATES = 12  # nearest records tried per signature


def non_gso_set(pool: Iterable[Analysed], per_category: int = PER_CATEGORY) -> List[Tuple[str, Analysed]]:
    """Networking records out of scope, with a crash site, newest first, ``per_category``
    of each family: the real negatives that must not get a GSO root cause."""
    by_cat: Dict[str, List[Analysed]] = defaultdict(list)
    for a in pool:
        if a.scope.in_scope or not a.networking or not a.site or detector_report(a.report):
            continue
        by_cat[negative_category(a)].append(a)
    out: List[Tuple[str, Analysed]] = []
    for cat in sorted(by_cat):
        items = sorted(by_cat[cat], key=lambda a: _cve_key(a.record.cve), reverse=True)
        out += [(cat, a) for a in items[:per_category]]
    return out


def _cve_key(cve: str) -> Tuple[int, int]:
    _, year, num = cve.split("-")
    return int(year), int(num)


def _frames(stack: Sequence[str]) -> Set[str]:
    return {f for f in stack[:16] if is_distinctive(f)}


def _similarity(a: Sequence[str], b: Sequence[str]) -> float:
    fa, fb = _frames(a), _frames(b)
    if not fa or not fb:
        return 0.0
    score = len(fa & fb) / len(fa | fb)
    if a and b and a[0] == b[0]:
        score += 0.5
    return score


def nearest_negative(
    sig: Signature, members: Sequence[Analysed], candidates: Sequence[Analysed], library: Sequence[Signature]
) -> Optional[Tuple[Analysed, str]]:
    """The record most like the signature's own (``members[0]``), of another fix, that
    ``sig`` rules out ("ruled-out"), or failing that one where it is not the top
    verdict ("not-top")."""
    own = members[0]
    cves = {m.record.cve for m in members}
    fixes = {m.record.versions.fix_commit for m in members}
    ranked = sorted(
        (c for c in candidates if c.record.cve not in cves and c.record.versions.fix_commit not in fixes and c.stack),
        key=lambda c: (-_similarity(own.stack, c.stack), c.record.cve),
    )
    not_top: Optional[Analysed] = None
    for c in ranked[:_CANDIDATES]:
        if evaluate_signature(sig, c.report).status == RULED_OUT:
            return c, "ruled-out"
        if not_top is None:
            diag = diagnose(c.report, library)
            if diag.top is None or diag.top.signature.id != sig.id:
                not_top = c
    if not_top is not None:
        return not_top, "not-top"
    for c in ranked[_CANDIDATES:]:
        if evaluate_signature(sig, c.report).status == RULED_OUT:
            return c, "ruled-out"
    return None
