"""The answer for a running kernel (no crash, so no root cause): per specific
signature, whether this kernel carries its fix and which observed devices, BPF
programs and modules make the class reachable; plus the WARNs/oopses already in
the kernel log. Pure: computed from a Diagnosis of a live report."""

from __future__ import annotations

from typing import Any, Dict, Sequence

from gsotriage.match.clauses import kinds_with_role
from gsotriage.match.engine import Diagnosis

__all__ = ["exposure"]

# Evidence kinds that describe the running kernel's configuration (what makes a class
# reachable), as opposed to crash-site evidence a live kernel never has.
_ENVIRONMENT_KINDS = kinds_with_role("environment")


def _fix_state(states: Sequence[str]) -> str:
    if not states:
        return "no-fix-known"
    if "not-fixed" in states:
        return "not-fixed"
    if all(s == "fixed" for s in states):
        return "fixed"
    if all(s == "no-fix-known" for s in states):
        return "no-fix-known"
    return "unknown"


def exposure(diag: Diagnosis) -> Dict[str, Any]:
    """The live report's answer (no crash, so no root cause): per specific signature,
    whether this kernel carries its fix, and which observed devices/BPF/modules make it
    reachable; plus the WARNs/oopses already in the kernel log."""
    report = diag.report
    sigs = []
    for v in diag.verdicts:
        if v.signature.generic:
            continue
        env = [e for e in v.evidence if e.kind in _ENVIRONMENT_KINDS]
        sigs.append(
            {
                "signature": v.signature.id,
                "fix": _fix_state([f.status.state for f in v.fixes]),
                "fixed_by": [
                    {"commit": f.fix.commit, "this_kernel": f.status.state, "basis": f.status.basis} for f in v.fixes
                ],
                "reachable_by": [{"clause": e.clause, "observed": e.observed} for e in env if e.result.value == "true"],
                "not_reachable_by": [
                    {"clause": e.clause, "observed": e.observed} for e in env if e.result.value == "false"
                ],
            }
        )
    net = report.net
    return {
        "claims_panic": False,
        "kernel_log_events": [
            {"title": ev.title, "kind": ev.kind.value if ev.kind else None, "function": ev.function, "line": ev.line}
            for ev in report.other_events
        ],
        "bpf_programs": None
        if net is None or net.bpf_programs is None
        else [f"{p.name or '?'} ({p.type or '?'}, {p.attach or '?'})" for p in net.bpf_programs],
        "signatures": sigs,
    }
