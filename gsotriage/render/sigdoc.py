"""A signature as a readable page (``gsotriage signatures show`` and docs/signatures/)."""

from __future__ import annotations

from typing import List

from gsotriage.match.signature import Signature

__all__ = ["signature_page"]


def signature_page(sig: Signature) -> str:
    out: List[str] = [f"# {sig.title}", ""]
    out.append(f"`{sig.id}` · maturity **{sig.maturity}** · severity **{sig.severity}** · tags: {', '.join(sig.tags)}")
    out += ["", sig.summary.strip(), "", "## Mechanism", "", sig.mechanism.strip(), ""]
    out += ["## Evidence", "", "Required (any FALSE rules the class out):", ""]
    for spec in sig.clauses:
        if spec.required:
            out.append(f"- {spec.clause.describe()}" + (f" — {spec.why}" if spec.why else ""))
    supporting = [s for s in sig.clauses if not s.required]
    if supporting:
        out += ["", "Supporting (raise the score, never decide alone):", ""]
        for spec in supporting:
            out.append(f"- {spec.clause.describe()}" + (f" — {spec.why}" if spec.why else ""))
    if sig.confirm_with_vmcore:
        out += ["", f"**What a vmcore confirms:** {sig.confirm_with_vmcore.strip()}"]
    out += ["", "## Fix", ""]
    if not sig.fixed_by:
        out.append("No upstream fix is verified for this class.")
    for f in sig.fixed_by:
        out.append(f'- `{f.commit}` "{f.subject}"')
        if f.first_release:
            out.append(f"  - first upstream release: {f.first_release}")
        if f.fixes:
            out.append(f"  - fixes: `{f.fixes}`")
        if f.cve:
            out.append(f"  - {f.cve}")
        if f.stable:
            out.append(f"  - stable backports: {', '.join(f.stable)}")
        out.append(f"  - verified in: {', '.join(f.verified_by)}")
    out += ["", "## Remediation", ""]
    if sig.remediation.upgrade:
        out.append(f"- Upgrade: {sig.remediation.upgrade}")
    for w in sig.remediation.workarounds:
        out.append(f"- Workaround: `{w.command}` — cost: {w.cost}" + (f" ({w.note})" if w.note else ""))
    if not sig.remediation.upgrade and not sig.remediation.workarounds:
        out.append("None recorded.")
    if sig.unverified:
        out += ["", "## Not verified", ""] + [f"- {u}" for u in sig.unverified]
    if sig.references:
        out += ["", "## References", ""] + [f"- [{r.title or r.url}]({r.url})" for r in sig.references]
    out += ["", "## Test cases", ""]
    for t in sig.tests:
        src = f" — {t.source}" if t.source else ""
        out.append(f"- `{t.name}`: expect **{t.expect}**{' (top)' if t.top else ''}, {t.provenance}{src}")
    return "\n".join(out) + "\n"
