"""Markdown for pasting into an incident ticket."""

from __future__ import annotations

from typing import TYPE_CHECKING, List

from gsotriage.match.engine import Diagnosis
from gsotriage.render.common import frame_text, headline, kernel_line, loser_reason, shinfo_lines, shown_in_differential

if TYPE_CHECKING:
    from gsotriage.analysis import Analysis
    from gsotriage.render import RenderOptions

__all__ = ["format_analysis", "render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_analysis(analysis: Analysis, options: RenderOptions) -> str:
    return render_markdown(analysis.diagnosis)


def render_markdown(diag: Diagnosis) -> str:
    r = diag.report
    top = diag.top
    out: List[str] = ["# gsotriage report", ""]
    out.append(f"- **Input:** `{r.source.path or '-'}` ({r.source.kind}{', DEGRADED' if r.source.degraded else ''})")
    out.append(f"- **Kernel:** {kernel_line(r)}")
    out.append(f"- **Crash:** {headline(r)}")
    if r.panic.panic_message:
        out.append(f"- **Panic:** {r.panic.panic_message}")
    out.append("")
    if top is None:
        out += ["## Verdict: no root cause named", ""]
        if diag.withheld:
            out += [diag.withheld[0].upper() + diag.withheld[1:] + ".", ""]
        out += [f"Bucket: `{diag.bucket}`", ""]
    else:
        sig = top.signature
        tie = " (TIE)" if top.tie else ""
        out += [
            f"## Verdict: {sig.title}",
            "",
            f"`{sig.id}`: **{top.status}**, score {top.score:.2f}{tie}",
            "",
            sig.summary,
            "",
        ]
        out += ["| result | evidence | observed |", "|---|---|---|"]
        for e in top.evidence:
            req = "" if e.required else " _(supporting)_"
            obs = e.observed if e.observed is not None else "_not observed_"
            out.append(f"| {e.result.value} | {_cell(e.clause)}{req} | {_cell(obs)} |")
        out.append("")
        if top.unknown_required:
            out.append("**Would confirm:** " + "; ".join(e.clause for e in top.unknown_required))
            if sig.confirm_with_vmcore:
                out.append(f"{sig.confirm_with_vmcore}")
            out.append("")
        if top.fixes:
            for f in top.fixes:
                out.append(
                    f'**Fix:** `{f.fix.commit[:12]}` "{f.fix.subject}" ({f.fix.first_release or "release unknown"})'
                    f"{' ' + f.fix.cve if f.fix.cve else ''}. This kernel: **{f.status.state}** ({f.status.basis})."
                )
        else:
            out.append("**Fix:** no upstream fix verified for this class.")
        if sig.remediation.upgrade:
            out.append(f"**Upgrade:** {sig.remediation.upgrade}")
        for w in sig.remediation.workarounds:
            out.append(f"**Workaround:** `{w.command}` (cost: {w.cost})")
        out.append("")
    others = [v for v in diag.verdicts if shown_in_differential(v, top, False)]
    if others:
        out += ["## Differential", "", "| signature | status | score | why not |", "|---|---|---|---|"]
        for v in others:
            out.append(f"| `{v.signature.id}` | {v.status} | {v.score:.2f} | {_cell(loser_reason(v, top))} |")
        out.append("")
    if r.frames:
        out += ["## Stack", "", "```"]
        if r.panic.function:
            out.append(f"=> {r.panic.function}" + (f"+{r.panic.offset:#x}" if r.panic.offset is not None else ""))
        out += [f"   {frame_text(f)}" for f in r.frames]
        out += ["```", ""]
    for skb in r.skbs:
        out += ["## skb_shared_info", "", "```", *shinfo_lines(skb), "```", ""]
    if r.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in r.notes] + [""]
    return "\n".join(out)
