"""Evaluate signatures against a report: verdicts, scores, ranking, differential.

A verdict is ``match`` (every required clause TRUE), ``partial`` (no required
clause FALSE, some UNKNOWN: the verdict lists what would confirm it) or
``ruled-out`` (a required clause is FALSE: the verdict names it).

Two numbers come with it. ``score`` in [0, 1] is the weighted share of the
signature's clauses that are TRUE (UNKNOWN never counts as evidence).
``support`` is the absolute weight of confirmed evidence minus contradicted
supporting evidence; ranking uses it before the score, so that a signature
whose distinguishing clauses were observed (the tunnel frames) beats one that
merely has fewer clauses, all unknown. All verdicts are kept and ranked; equal
ranks are reported as ties.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Sequence, Tuple

from gsotriage.kernel.symbols import base_name
from gsotriage.kernel.versions import FixStatus, fix_status
from gsotriage.match.clauses import Tri, kinds_with_role
from gsotriage.match.signature import Fix, Signature
from gsotriage.model import CrashReport

__all__ = ["Diagnosis", "Evidence", "FixVerdict", "Verdict", "diagnose", "evaluate_signature"]

# Clause kinds that describe the kernel's configuration (or an absence) rather
# than the crash: they never anchor a candidate.
CONFIG_KINDS = kinds_with_role("environment", "absence")

# Clause kinds that place the crash: where it faulted and through which calls.
SITE_KINDS = kinds_with_role("site")

MATCH = "match"
PARTIAL = "partial"
RULED_OUT = "ruled-out"


@dataclass(frozen=True)
class Evidence:
    clause: str
    kind: str
    required: bool
    result: Tri
    expected: str
    observed: Optional[str]
    weight: float
    why: Optional[str] = None


@dataclass(frozen=True)
class FixVerdict:
    fix: Fix
    status: FixStatus


@dataclass(frozen=True)
class Verdict:
    signature: Signature
    status: str
    score: float
    evidence: Tuple[Evidence, ...]
    fixes: Tuple[FixVerdict, ...]
    support: float = 0.0
    tie: bool = False

    @property
    def contradicted_by(self) -> Tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.required and e.result is Tri.FALSE)

    @property
    def unknown_required(self) -> Tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.required and e.result is Tri.UNKNOWN)

    @property
    def anchored(self) -> bool:
        """Some required clause about the crash itself is confirmed: the crash is at
        least in this signature's territory. Facts about the kernel's configuration
        (BPF programs, device features, version, modules, taint) hold on healthy
        kernels too, so they never make a candidate on their own."""
        if self.signature.generic:
            return any(e.required and e.result is Tri.TRUE and e.kind not in CONFIG_KINDS for e in self.evidence)
        # A specific root cause needs the crash site itself: a panic kind or a
        # struct printout alone (crash's `sys`, `struct sk_buff`) names no GSO bug.
        return any(e.required and e.result is Tri.TRUE and e.kind in SITE_KINDS for e in self.evidence)

    @property
    def rank_key(self) -> Tuple[int, int, float, float]:
        # Groups: specific candidates, generic candidates, candidates with no
        # confirmed required evidence at all (nothing contradicts them, nothing
        # supports them), ruled out.
        if self.status == RULED_OUT:
            group = 3
        elif not self.anchored:
            group = 2
        else:
            group = 1 if self.signature.generic else 0
        return (group, 0 if self.status == MATCH else 1, -round(self.support, 6), -round(self.score, 6))

    @property
    def specific(self) -> bool:
        return self.status in (MATCH, PARTIAL) and not self.signature.generic and self.anchored


# A kernel that carries the fix makes the class unlikely, but a fix can be partial
# (several classes here are follow-ups of incomplete fixes): supporting evidence.
FIX_WEIGHT = 2.0


def _fix_evidence(fixes: Tuple[FixVerdict, ...]) -> List[Evidence]:
    out = []
    for f in fixes:
        state = f.status.state
        result = {"fixed": Tri.FALSE, "not-fixed": Tri.TRUE}.get(state, Tri.UNKNOWN)
        out.append(
            Evidence(
                clause=f"kernel lacks fix {f.fix.commit[:12]}",
                kind="fix_status",
                required=False,
                result=result,
                expected="a kernel without the fix",
                observed=f"{state}: {f.status.basis}",
                weight=FIX_WEIGHT,
                why="derived from the kernel version and the fix's verified releases",
            )
        )
    return out


def evaluate_signature(sig: Signature, report: CrashReport) -> Verdict:
    evidence: List[Evidence] = []
    for spec in sig.clauses:
        res = spec.clause.evaluate(report)
        evidence.append(
            Evidence(
                clause=spec.clause.describe(),
                kind=spec.clause.kind,
                required=spec.required,
                result=res.value,
                expected=res.expected,
                observed=res.observed,
                weight=spec.weight,
                why=spec.why,
            )
        )
    fixes = tuple(FixVerdict(f, fix_status(report.kernel, f.first_release, f.stable)) for f in sig.fixed_by)
    evidence += _fix_evidence(fixes)
    required = [e for e in evidence if e.required]
    if any(e.result is Tri.FALSE for e in required):
        status = RULED_OUT
    elif all(e.result is Tri.TRUE for e in required):
        status = MATCH
    else:
        status = PARTIAL
    total = sum(e.weight for e in evidence)
    score = sum(e.weight for e in evidence if e.result is Tri.TRUE) / total if total else 0.0
    support = sum(e.weight for e in evidence if e.result is Tri.TRUE) - sum(
        e.weight for e in evidence if e.result is Tri.FALSE and not e.required
    )
    return Verdict(sig, status, round(score, 4), tuple(evidence), fixes, support=round(support, 4))


@dataclass(frozen=True)
class Diagnosis:
    report: CrashReport
    verdicts: Tuple[Verdict, ...]  # ranked, best first

    @property
    def top(self) -> Optional[Verdict]:
        if self.report.live:
            # A running kernel has not crashed: no root cause is ever named (see "exposure").
            return None
        v = self.verdicts[0] if self.verdicts else None
        return v if v is not None and v.status != RULED_OUT and v.anchored else None

    @property
    def specific_root_cause(self) -> bool:
        top = self.top
        return top is not None and top.specific

    @property
    def bucket(self) -> str:
        """A stable grouping key: panic kind, exception function, top frames (no offsets)."""
        r = self.report
        kind = r.panic.kind.value if r.panic.kind else "unknown"
        fn = base_name(r.panic.function) if r.panic.function else "unknown"
        mod = f"@{r.panic.module}" if r.panic.module else ""
        # Inline frames and compiler clone suffixes differ between a console log and
        # a vmcore of the same crash (and between builds): leave them out.
        frames = [
            f
            for f in r.frames
            if not f.questionable and not f.inline and f.context.value != "exception" and base_name(f.function) != fn
        ]
        top = ",".join(base_name(f.function) + (f"@{f.module}" if f.module else "") for f in frames[:3])
        return f"{kind}:{fn}{mod}:{top}"


def _refinement_order(verdicts: List[Verdict]) -> List[Verdict]:
    """An origin signature that fully matches goes right before the mechanism
    signature it refines when that one matches too: it explains the same crash one
    step further. A merely partial origin stays where its evidence puts it."""
    out = list(verdicts)
    for v in verdicts:
        parent = v.signature.refines
        if parent is None or v.status != MATCH:
            continue
        i = out.index(v)
        j = next((k for k, w in enumerate(out) if w.signature.id == parent), None)
        if j is not None and j < i and out[j].status == v.status:
            out.insert(j, out.pop(i))
    return out


def _related(a: Verdict, b: Verdict) -> bool:
    return a.signature.refines == b.signature.id or b.signature.refines == a.signature.id


def _rule_out_orphaned_origins(verdicts: List[Verdict]) -> List[Verdict]:
    """An origin explains its mechanism; when the mechanism is ruled out, so is the origin."""
    by_id = {v.signature.id: v for v in verdicts}
    out = []
    for v in verdicts:
        parent = by_id.get(v.signature.refines or "")
        if parent is not None and parent.status == RULED_OUT and v.status != RULED_OUT:
            why = Evidence(
                clause=f"refines {parent.signature.id}",
                kind="refines",
                required=True,
                result=Tri.FALSE,
                expected=f"the crash mechanism {parent.signature.id}",
                observed="ruled out: " + "; ".join(e.clause for e in parent.contradicted_by),
                weight=0.0,
                why="an origin only explains a crash of the mechanism it refines",
            )
            v = replace(v, status=RULED_OUT, evidence=(*v.evidence, why))
        out.append(v)
    return out


def diagnose(report: CrashReport, signatures: Sequence[Signature]) -> Diagnosis:
    evaluated = _rule_out_orphaned_origins([evaluate_signature(s, report) for s in signatures])
    verdicts = sorted(evaluated, key=lambda v: (v.rank_key, v.signature.id))
    verdicts = _refinement_order(verdicts)
    marked: List[Verdict] = []
    for i, v in enumerate(verdicts):
        same = [w for j, w in enumerate(verdicts) if j != i and w.rank_key == v.rank_key and not _related(v, w)]
        tie = bool(same) and v.status != RULED_OUT
        marked.append(replace(v, tie=tie))
    return Diagnosis(report, tuple(marked))
