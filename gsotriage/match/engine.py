"""Evaluate signatures against a report: verdicts, one score, ranking, ambiguity.

A verdict is ``match`` (every required clause TRUE), ``partial`` (no required
clause FALSE, some UNKNOWN: the verdict lists what would confirm it) or
``ruled-out`` (a required clause is FALSE: the verdict names it).

The score (docs/scoring.md) is a posterior probability over the candidates
that are not ruled out, generic classes included. Each candidate's evidence
adds log-odds: a TRUE clause adds ``weight/2 * ln(1/background)`` (confirming a
rare fact counts more), a required clause left UNKNOWN adds ``ln(background)``
(a class that needs a rare fact nobody saw is unlikely: gso_size == 0xFFFF
costs more than "frag_list is NULL"), a FALSE supporting clause subtracts, and
a kernel that already carries the class's fix costs ``ln(10)``. Candidates are
ranked by that score, so rank and score never disagree. When the best
candidates are close and what separates them was not observed, the diagnosis
is *ambiguous*: no single fix is named, and the observables that would decide
are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from gsotriage.kernel.changelog import Changelog, changelog_status
from gsotriage.kernel.symbols import base_name
from gsotriage.kernel.versions import FixStatus, fix_status
from gsotriage.match.clauses import Tri, kinds_with_role
from gsotriage.match.clauses.context import EvalContext
from gsotriage.match.signature import Fix, Signature
from gsotriage.model import NOT_CALLS, CrashReport, Kernel, PanicKind

__all__ = [
    "AMBIGUOUS",
    "MATCH",
    "PARTIAL",
    "RULED_OUT",
    "Ambiguity",
    "Decider",
    "Diagnosis",
    "Evidence",
    "FixVerdict",
    "Verdict",
    "diagnose",
    "evaluate_signature",
]

# Clause kinds that describe the kernel's configuration (or an absence) rather
# than the crash: they never anchor a candidate.
CONFIG_KINDS = kinds_with_role("environment", "absence")

# Clause kinds that place the crash: where it faulted and through which calls.
SITE_KINDS = kinds_with_role("site")
DECISIVE_WHY = "a report of another nature at the same site is another bug (supporting clause made decisive)"

# Clause kinds that read the state of the crashed objects (the skb, its shared info, its
# frag_list): the bug's condition itself, not only the place it surfaced.
STATE_KINDS = kinds_with_role("state")

MATCH = "match"
PARTIAL = "partial"
RULED_OUT = "ruled-out"
AMBIGUOUS = "ambiguous"

# A leak report's trace is where the object was allocated: the same path for every leak of
# that object (any leaked socket shows sk_prot_alloc <- sk_alloc <- inet_create: CVE-2026-22979's
# fraglist truesize leak and CVE-2026-68386's sockmap refcount leak alike), so it places the
# object, not the cause. Its classes stay candidates, never the answer.
LEAK_TRACE = (
    "a leak report: its trace is where the object was allocated, the same for every leak of that "
    "object, so it names no cause; the candidates are causes to check, not the answer"
)

# A kernel that carries the fix makes the class unlikely, but a fix can be partial
# (several classes here are follow-ups of incomplete fixes): a factor of 10, not a veto.
FIXED_PENALTY = math.log(10.0)
# A FALSE supporting clause: evidence against, per unit of weight.
AGAINST_PER_WEIGHT = 0.8
# A generic class says "a bug of this kind, not one the library knows": it is the
# fallback, so it starts behind any specific class whose evidence fits.
GENERIC_PRIOR = -1.0
# Candidates within this factor of the best one are rivals (see ambiguity).
RIVAL_RATIO = 3.0
# An ambiguous answer lists the candidates that hold this share of the probability (a
# credible set), not only the rivals.
CREDIBLE_SET = 0.9
# An origin is ranked just above (confirmed) or below (not yet) its mechanism.
ORIGIN_STEP = 0.01
# Clause kinds an origin signature repeats from the mechanism it refines.
_ORIGIN_RESTATES = frozenset({"exception_function", "panic_kind", "fix_status"})


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
    background: float = 0.5  # chance the clause holds on a crash nothing is known about
    contribution: float = 0.0  # log-odds this evidence adds to the candidate
    observable: Optional[str] = None  # what must be seen to decide it


@dataclass(frozen=True)
class FixVerdict:
    fix: Fix
    status: FixStatus


@dataclass(frozen=True)
class Verdict:
    signature: Signature
    status: str
    score: float  # posterior probability among the candidates not ruled out (0 when ruled out)
    evidence: Tuple[Evidence, ...]
    fixes: Tuple[FixVerdict, ...]
    support: float = 0.0  # confirmed weight minus contradicted supporting weight (kept for the v1 contract)
    tie: bool = False
    log_score: float = 0.0  # unnormalised log-odds behind ``score``

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
    def specific(self) -> bool:
        return self.status in (MATCH, PARTIAL) and not self.signature.generic and self.anchored


@dataclass(frozen=True)
class Decider:
    """What would tell two candidates apart: observables neither report showed."""

    between: Tuple[str, str]
    observables: Tuple[str, ...]
    how: Tuple[str, ...]


@dataclass(frozen=True)
class Ambiguity:
    candidates: Tuple[Verdict, ...]  # best first
    deciders: Tuple[Decider, ...]


# How an SRE gets to see an observable (for "what would decide").
_SHINFO_HOW = "a vmcore (gsotriage on the dump, or crash> struct skb_shared_info) or an skb_dump() in the log shows it"
HOW_TO_OBSERVE: Dict[str, str] = {
    "gso_size": _SHINFO_HOW,
    "gso_segs": _SHINFO_HOW,
    "gso_type": _SHINFO_HOW,
    "frag_list": _SHINFO_HOW,
    "nr_frags": _SHINFO_HOW,
    "dataref": _SHINFO_HOW,
    "the frag_list members": "a vmcore shows the frag_list chain (gsotriage walks it)",
    "the call trace": "the full Call Trace (console log, vmcore-dmesg.txt or crash> bt) shows it",
    "the crash site (RIP/pc)": "the RIP:/pc : line of the oops shows it",
    "the oops headline": "the first line of the oops report shows it",
    "the fault address (CR2/far)": "the oops headline or CR2 line shows it",
    "the BUG/WARN source line": "the 'kernel BUG at' / 'WARNING: ... at' line shows it",
    "the exception registers": "the register dump of the oops shows it",
    "the kernel release": "uname -r, or the 'Linux version' / CPU: line of the log",
    "the taint flags": "the 'Tainted:' field of the CPU: line shows it",
    "the loaded modules": "the 'Modules linked in:' line shows them",
    "the attached BPF programs": "a vmcore shows them (on a live node: bpftool net / bpftool prog)",
    "the net devices and their features": "a vmcore shows them (on a live node: ethtool -k DEV)",
}


def _how(observable: str) -> str:
    for part in observable.split(" and "):
        if part in HOW_TO_OBSERVE:
            return HOW_TO_OBSERVE[part]
    return "a vmcore of the crash shows it"


def _contribution(kind: str, required: bool, result: Tri, weight: float, background: float) -> float:
    if kind == "fix_status":
        return -FIXED_PENALTY if result is Tri.FALSE else 0.0
    bg = min(max(background, 1e-4), 1.0)
    if result is Tri.TRUE:
        return weight / 2.0 * -math.log(bg)
    if result is Tri.FALSE:
        return 0.0 if required else -AGAINST_PER_WEIGHT * weight
    return math.log(bg) if required else 0.0


def _implied_once(sig: Signature, evidence: List[Evidence]) -> List[Evidence]:
    """A TRUE supporting clause that another TRUE clause of the signature implies (a fault
    address inside [0x70, 0x77] is inside [0x0, 0xfff] too) adds nothing: the fact counts
    once, by the stronger clause. Two clauses that imply each other (the same range) are one
    fact too: the first keeps it. ``evidence`` is in ``sig.clauses`` order."""
    out = list(evidence)
    for i, spec in enumerate(sig.clauses):
        e = out[i]
        if e.required or e.result is not Tri.TRUE or not e.contribution:
            continue
        by = next(
            (
                other
                for j, other in enumerate(sig.clauses)
                if j != i
                and out[j].result is Tri.TRUE
                and other.clause.implies(spec.clause)
                and (j < i or not spec.clause.implies(other.clause))
            ),
            None,
        )
        if by is not None:
            note = f"implied by '{by.clause.describe()}': counted once"
            out[i] = replace(e, contribution=0.0, why=f"{e.why}; {note}" if e.why else note)
    return out


def _counted_by_fix(e: Evidence) -> Evidence:
    """A supporting kernel-version range the kernel falls outside says what the fix status
    already says (this kernel is not in the affected range): its penalty counts once, by the
    fix (FIXED_PENALTY), not again by the range."""
    if e.kind != "kernel" or e.required or e.result is not Tri.FALSE or not e.contribution:
        return e
    return replace(e, contribution=0.0, why=f"{e.why + '; ' if e.why else ''}counted once, by the fix status")


def _fix_evidence(fixes: Tuple[FixVerdict, ...], veto: bool = False) -> List[Evidence]:
    """``veto``: the kernel carrying the fix rules the class out (see ``_fixed_veto``)."""
    out = []
    for f in fixes:
        state = f.status.state
        result = {"fixed": Tri.FALSE, "not-affected": Tri.FALSE, "not-fixed": Tri.TRUE}.get(state, Tri.UNKNOWN)
        out.append(
            Evidence(
                clause=f"kernel lacks fix {f.fix.commit[:12]}",
                kind="fix_status",
                required=veto,
                result=result,
                expected="a kernel without the fix",
                observed=f"{state}: {f.status.basis}",
                weight=0.0,
                why=(
                    "this kernel carries the fix and the crash shows no state of the bug, only its site: "
                    "another bug at the same site"
                    if veto
                    else "derived from the kernel version and the fix's verified releases"
                ),
                background=1.0,
                contribution=_contribution("fix_status", False, result, 0.0, 1.0),
                observable="the kernel release",
            )
        )
    return out


def _fix_status(kernel: Kernel, fix: Fix, changelog: Optional[Changelog]) -> FixStatus:
    status = fix_status(
        kernel,
        fix.first_release,
        fix.stable,
        introduced=fix.introduced,
        affected_ranges=fix.affected_ranges,
        unlisted=fix.unlisted,
    )
    if changelog is not None and status.state == "unknown":
        # A backporting vendor: its package changelog says what its version cannot.
        return changelog_status(changelog, kernel, fix.cve, fix.subject)
    return status


# Taint letters of module code outside the kernel tree (proprietary, out-of-tree, unsigned):
# code no in-tree fix touched, which can build a fixed bug's skb again.
_EXTERNAL_CODE_TAINTS = frozenset({"P", "O", "E"})


def _fixed_veto(fixes: Tuple[FixVerdict, ...], evidence: Sequence[Evidence], report: CrashReport) -> bool:
    """A kernel that carries every fix of the class, runs only in-tree code (its taint flags
    are known and name no out-of-tree module) and shows only the crash's site and text
    crashed from another bug at the same site: the class is ruled out. Sites are shared
    (syzbot's mptcp WARN of CVE-2024-50083 fires where CVE-2023-52778's did, on a 6.11
    kernel that carries 52778's v6.7 fix), so a site alone cannot outweigh the fix. The fix
    only lowers the class (FIXED_PENALTY) when the dump shows the bug's own state (a partial
    fix stays possible), when an out-of-tree module could have built the bad skb again, or
    when the taint flags are unknown."""
    if not fixes or any(f.status.state != "fixed" for f in fixes):
        return False
    flags = report.kernel.taint_flags
    if flags is None or _EXTERNAL_CODE_TAINTS.intersection(flags):
        return False
    return not any(e.required and e.result is Tri.TRUE and e.kind in STATE_KINDS for e in evidence)


def _observed_over_version(status: FixStatus, seen: bool) -> FixStatus:
    """A kernel the version calls not affected (its base predates the bug) that crashed with
    every required sign of the bug, at its site, carries the buggy code anyway: a vendor
    backport (Debian and RHEL kernels take whole features into old bases). The version then
    says nothing about whether the fix was taken too: unknown, not a reason to doubt the match."""
    if status.state != "not-affected" or not seen:
        return status
    return FixStatus(
        "unknown",
        f"{status.basis}; yet this crash shows every required sign of the bug at its site, so the "
        "buggy code was backported into this kernel: whether the fix was too, the version cannot tell",
    )


def evaluate_signature(
    sig: Signature,
    report: CrashReport,
    ctx: Optional[EvalContext] = None,
    changelog: Optional[Changelog] = None,
) -> Verdict:
    ctx = ctx if ctx is not None else EvalContext.of(report)
    evidence: List[Evidence] = []
    for spec in sig.clauses:
        res = spec.clause.check(ctx)
        bg = spec.clause.background()
        # A decisive FALSE (a crash of another nature) rules out even from a supporting clause.
        decides = spec.required or (res.decisive and res.value is Tri.FALSE)
        why = spec.why if decides == spec.required else "; ".join(filter(None, (spec.why, DECISIVE_WHY)))
        evidence.append(
            Evidence(
                clause=spec.clause.describe(),
                kind=spec.clause.kind,
                required=decides,
                result=res.value,
                expected=res.expected,
                observed=res.observed,
                weight=spec.weight,
                why=why,
                background=round(bg, 6),
                contribution=round(_contribution(spec.clause.kind, decides, res.value, spec.weight, bg), 6),
                observable=spec.clause.observable(),
            )
        )
    evidence = _implied_once(sig, evidence)
    # Every required clause TRUE, a site among them: the crash this bug makes was observed.
    seen = all(e.result is Tri.TRUE for e in evidence if e.required) and any(
        e.kind in SITE_KINDS and e.result is Tri.TRUE for e in evidence if e.required
    )
    fixes = tuple(
        FixVerdict(f, _observed_over_version(_fix_status(report.kernel, f, changelog), seen)) for f in sig.fixed_by
    )
    if any(f.status.state in ("fixed", "not-affected") for f in fixes):
        evidence = [_counted_by_fix(e) for e in evidence]
    evidence += _fix_evidence(fixes, _fixed_veto(fixes, evidence, report))
    required = [e for e in evidence if e.required]
    if any(e.result is Tri.FALSE for e in required):
        status = RULED_OUT
    elif all(e.result is Tri.TRUE for e in required):
        status = MATCH
    else:
        status = PARTIAL
    support = sum(e.weight for e in evidence if e.result is Tri.TRUE) - sum(
        e.weight for e in evidence if e.result is Tri.FALSE and not e.required
    )
    log_score = sum(e.contribution for e in evidence) + (GENERIC_PRIOR if sig.generic else 0.0)
    return Verdict(sig, status, 0.0, tuple(evidence), fixes, support=round(support, 4), log_score=log_score)


@dataclass(frozen=True)
class Diagnosis:
    report: CrashReport
    verdicts: Tuple[Verdict, ...]  # ranked by score, best first
    ambiguity: Optional[Ambiguity] = None

    @property
    def top(self) -> Optional[Verdict]:
        """The best-scoring candidate, when it has confirmed evidence about this crash."""
        if self.report.live:
            # A running kernel has not crashed: no root cause is ever named (see "exposure").
            return None
        if self.withheld is not None:
            return None
        return self._best()

    def _best(self) -> Optional[Verdict]:
        v = self.verdicts[0] if self.verdicts else None
        return v if v is not None and v.status != RULED_OUT and v.anchored else None

    @property
    def withheld(self) -> Optional[str]:
        """Why a candidate that matches is not named the root cause (None: nothing withheld)."""
        if self.report.panic.kind is PanicKind.MEMORY_LEAK and not self.report.live and self._best() is not None:
            return LEAK_TRACE
        return None

    @property
    def status(self) -> Optional[str]:
        """match | partial | ambiguous, or None when nothing is named."""
        if self.top is None:
            return None
        return AMBIGUOUS if self.ambiguity is not None else self.top.status

    @property
    def specific_root_cause(self) -> bool:
        """One specific (non-generic) root cause is named."""
        top = self.top
        return top is not None and top.specific and self.ambiguity is None

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
            if not f.questionable and not f.inline and f.context not in NOT_CALLS and base_name(f.function) != fn
        ]
        top = ",".join(base_name(f.function) + (f"@{f.module}" if f.module else "") for f in frames[:3])
        return f"{kind}:{fn}{mod}:{top}"


def _related(a: Verdict, b: Verdict) -> bool:
    return a.signature.refines == b.signature.id or b.signature.refines == a.signature.id


def _origin_score(origin: Verdict, parent: Verdict) -> float:
    """An origin scores as its mechanism, plus its own evidence once all of it is
    confirmed (MATCH); until then, minus the cost of what it lacks. Evidence it
    repeats from the mechanism (the site, the panic kind, the same clause) counts
    once, in the mechanism."""
    repeated = {e.clause for e in parent.evidence}
    own = [e for e in origin.evidence if e.kind not in _ORIGIN_RESTATES and e.clause not in repeated]
    if origin.status == MATCH:
        return parent.log_score + max(sum(e.contribution for e in own), 0.0) + ORIGIN_STEP
    lacking = sum(e.contribution for e in own if e.result is Tri.UNKNOWN and e.required)
    return parent.log_score + lacking - ORIGIN_STEP


def _with_origins(verdicts: List[Verdict]) -> List[Verdict]:
    """An origin explains its mechanism one step further: it is ruled out with the
    mechanism, and otherwise scored from it (see _origin_score)."""
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
        elif parent is not None and v.status != RULED_OUT:
            v = replace(v, log_score=_origin_score(v, parent))
        out.append(v)
    return out


def _posterior(verdicts: List[Verdict]) -> List[Verdict]:
    live = [v.log_score for v in verdicts if v.status != RULED_OUT]
    if not live:
        return verdicts
    peak = max(live)
    total = sum(math.exp(x - peak) for x in live)
    return [
        replace(v, score=0.0 if v.status == RULED_OUT else round(math.exp(v.log_score - peak) / total, 4))
        for v in verdicts
    ]


def _rank(v: Verdict) -> Tuple[int, float, str]:
    # Ruled out last; then by log-odds (the posterior's order, without rounding).
    return (1 if v.status == RULED_OUT else 0, -round(v.log_score, 6), v.signature.id)


def _decider(a: Verdict, b: Verdict) -> Decider:
    observables: List[str] = []
    for v in (b, a):  # the rival's missing evidence first: seeing it confirms or removes the rival
        for e in v.unknown_required:
            if e.observable and e.observable not in observables:
                observables.append(e.observable)
    return Decider(
        between=(a.signature.id, b.signature.id),
        observables=tuple(observables),
        how=tuple(dict.fromkeys(_how(o) for o in observables)),
    )


def _ambiguity(ranked: Sequence[Verdict]) -> Optional[Ambiguity]:
    """The best specific candidate has rivals (specific, unrelated, within RIVAL_RATIO
    of its score): the evidence does not choose between them. The candidates are the top,
    its rivals and the further specific ones in the CREDIBLE_SET."""
    top = ranked[0] if ranked else None
    if top is None or top.status == RULED_OUT or not top.anchored or top.signature.generic:
        return None
    rivals = [
        v
        for v in ranked[1:]
        if v.status != RULED_OUT
        and v.anchored
        and not v.signature.generic
        and not _related(v, top)
        and v.log_score >= top.log_score - math.log(RIVAL_RATIO)
    ]
    if not rivals:
        return None
    # The evidence cannot choose: the answer is every specific class it leaves credible, so the
    # candidates go on down the ranking until they (and the generic classes between them) hold
    # CREDIBLE_SET of the probability. A third class that the same unseen observable decides is
    # not left out because context clauses (a driver, a forwarding path) lowered it.
    listed = [top, *rivals]
    mass = 0.0
    for v in ranked:
        if mass >= CREDIBLE_SET or v.status == RULED_OUT:
            break
        mass += v.score
        if v not in listed and v.anchored and not v.signature.generic and not _related(v, top):
            listed.append(v)
    return Ambiguity(candidates=tuple(listed), deciders=tuple(_decider(top, r) for r in listed[1:]))


def diagnose(
    report: CrashReport, signatures: Sequence[Signature], *, changelog: Optional[Changelog] = None
) -> Diagnosis:
    """``changelog``: the crashed kernel's package changelog (``--kernel-changelog``), consulted
    for fixes the kernel's version cannot settle (backporting vendors)."""
    ctx = EvalContext.of(report)
    evaluated = _with_origins([evaluate_signature(s, report, ctx, changelog) for s in signatures])
    ranked = sorted(_posterior(evaluated), key=_rank)
    # Ranked by log-odds, so equal scores are neighbours: looking only there keeps tie
    # marking linear (comparing every pair cost more than the clauses at 80+ signatures).
    marked: List[Verdict] = []
    for i, v in enumerate(ranked):
        same = False
        if v.status != RULED_OUT:
            for step in (-1, 1):
                j = i + step
                while 0 <= j < len(ranked) and abs(ranked[j].log_score - v.log_score) < 1e-6:
                    w = ranked[j]
                    if w.status != RULED_OUT and not _related(v, w):
                        same = True
                        break
                    j += step
                if same:
                    break
        marked.append(v if v.tie == same else replace(v, tie=same))
    return Diagnosis(report, tuple(marked), None if report.live else _ambiguity(marked))
