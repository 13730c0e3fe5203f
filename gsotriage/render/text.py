"""Human output for a terminal (rich); plain text when not a TTY; honours NO_COLOR."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Dict, List

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gsotriage.match.clauses import Tri
from gsotriage.match.engine import MATCH, PARTIAL, Diagnosis, Verdict
from gsotriage.render import RenderOptions
from gsotriage.render.common import (
    frame_text,
    headline,
    highlighted_names,
    kernel_line,
    loser_reason,
    shinfo_lines,
    shown_in_differential,
)

if TYPE_CHECKING:
    from gsotriage.analysis import Analysis

__all__ = ["format_analysis"]

_RULED_OUT_SHOWN = 10
_RESULT_STYLE = {Tri.TRUE: "green", Tri.FALSE: "red", Tri.UNKNOWN: "yellow"}
_STATUS_STYLE = {MATCH: "bold green", PARTIAL: "bold yellow"}


def _evidence_table(v: Verdict) -> Table:
    t = Table(show_header=True, header_style="bold", expand=False, box=None, pad_edge=False)
    t.add_column("", no_wrap=True)
    t.add_column("evidence")
    t.add_column("observed")
    for e in v.evidence:
        mark = {Tri.TRUE: "yes", Tri.FALSE: "NO", Tri.UNKNOWN: "?"}[e.result]
        req = "" if e.required else " (supporting)"
        t.add_row(
            Text(mark, style=_RESULT_STYLE[e.result]),
            e.clause + req,
            e.observed if e.observed is not None else Text("not observed", style="dim"),
        )
    return t


def _verdict_panel(v: Verdict) -> Panel:
    sig = v.signature
    body: List[RenderableType] = [
        Text.assemble(
            (v.status.upper(), _STATUS_STYLE.get(v.status, "bold")),
            f"  score {v.score:.2f}  ",
            (f"[{sig.maturity}] ", "dim"),
            ("TIE: see runner-ups" if v.tie else "", "bold red"),
        ),
        Text(sig.summary),
        Text(""),
        _evidence_table(v),
    ]
    unknown = v.unknown_required
    if unknown:
        body.append(Text("\nWould confirm: " + "; ".join(e.clause for e in unknown), style="yellow"))
        if sig.confirm_with_vmcore:
            body.append(Text(sig.confirm_with_vmcore, style="yellow"))
    if v.fixes:
        body.append(Text("\nFix:", style="bold"))
        for f in v.fixes:
            rel = f" ({f.fix.first_release})" if f.fix.first_release else ""
            cve = f" {f.fix.cve}" if f.fix.cve else ""
            body.append(Text(f'  {f.fix.commit[:12]} "{f.fix.subject}"{rel}{cve}'))
            body.append(Text(f"  this kernel: {f.status.state} - {f.status.basis}", style="cyan"))
    else:
        body.append(Text("\nFix: no upstream fix verified for this class", style="bold"))
    rem = sig.remediation
    if rem.upgrade:
        body.append(Text(f"Upgrade: {rem.upgrade}"))
    for w in rem.workarounds:
        body.append(Text.assemble(("Workaround: ", "bold"), (w.command, "bold magenta"), f"  (cost: {w.cost})"))
    if sig.unverified:
        body.append(Text("Unverified: " + "; ".join(sig.unverified), style="dim"))
    return Panel(Group(*body), title=f"[bold]{sig.title}[/bold]", subtitle=sig.id, expand=True)


def _exposure_lines(exp: Dict[str, Any]) -> List[RenderableType]:
    """Live kernel: no crash, so no verdict; per signature the fix status and what makes it reachable."""
    out: List[RenderableType] = [
        Text("Exposure of this running kernel (no crash is claimed, no root cause named):", style="bold")
    ]
    bpf = exp["bpf_programs"]
    out.append(Text("  BPF programs: " + ("unknown" if bpf is None else ", ".join(bpf) or "none")))
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("signature", no_wrap=True)
    t.add_column("fix in this kernel")
    t.add_column("reachable by")
    for s in exp["signatures"]:
        commits = ", ".join(f"{f['commit'][:12]} {f['this_kernel']}" for f in s["fixed_by"])
        fix = s["fix"] + (f" ({commits})" if commits else "")
        reach = "; ".join(f"{e['clause']} ({e['observed']})" for e in s["reachable_by"]) or "-"
        t.add_row(s["signature"], fix, reach)
    out.append(t)
    return out


def _build(diag: Diagnosis, document: Dict[str, Any], verbose: bool) -> Group:
    r = diag.report
    parts: List[RenderableType] = []
    src = r.source
    parts.append(
        Text.assemble(
            ("input   ", "bold"),
            f"{src.path or '-'} ({src.kind}{', ' + src.format if src.format else ''})",
            (" DEGRADED" if src.degraded else "", "bold red"),
        )
    )
    parts.append(Text.assemble(("kernel  ", "bold"), kernel_line(r)))
    parts.append(Text.assemble(("crash   ", "bold"), headline(r)))
    if r.panic.panic_message:
        parts.append(Text.assemble(("panic   ", "bold"), r.panic.panic_message))
    parts.append(Text(""))
    top = diag.top
    if r.live:
        parts.extend(_exposure_lines(document["exposure"]))
    elif top is None:
        said = "No signature matches: no root cause named."
        if diag.withheld:
            said = f"No root cause named: {diag.withheld}."
        parts.append(Panel(Text(said, style="bold"), title="verdict"))
        parts.append(Text(f"bucket  {diag.bucket}"))
    else:
        parts.append(_verdict_panel(top))
        if not top.specific:
            parts.append(Text(f"bucket  {diag.bucket}"))
    # Differential diagnosis: why the others lost.
    others = [v for v in diag.verdicts if v is not top]
    shown = [] if r.live else [v for v in others if shown_in_differential(v, top, verbose)]
    if not verbose:
        # The nearest look-alikes: every candidate, and the ruled-out classes with the
        # most confirmed evidence (ranking already orders them that way).
        candidates = [v for v in shown if v.status != "ruled-out"]
        shown = candidates + [v for v in shown if v.status == "ruled-out"][:_RULED_OUT_SHOWN]
    if shown:
        title = "Differential: why the alternatives lose" if top is not None else "Candidates: none is named"
        t = Table(title=title, title_justify="left", show_lines=False)
        t.add_column("signature", no_wrap=True)
        t.add_column("status", no_wrap=True)
        t.add_column("score", justify="right")
        t.add_column("why not")
        for v in shown:
            t.add_row(v.signature.id, v.status, f"{v.score:.2f}", loser_reason(v, top))
        parts.append(t)
        hidden = len(others) - len(shown)
        if hidden:
            parts.append(
                Text(f"({hidden} more verdicts, further from this crash, not shown; --verbose lists them)", style="dim")
            )
    # The stack, matched frames highlighted.
    if r.frames or r.panic.function:
        hl = highlighted_names(diag)
        parts.append(
            Text("\nStack (crash site first" + ("" if r.frames_complete else ", truncated") + "):", style="bold")
        )
        if r.panic.function:
            parts.append(
                Text(
                    f"  => {r.panic.function}" + (f"+{r.panic.offset:#x}" if r.panic.offset is not None else ""),
                    style="bold red",
                )
            )
        last_ctx = None
        for f in r.frames:
            # Task frames are the default: labelled only when they follow another context.
            if f.context != last_ctx and (f.context.value != "task" or last_ctx is not None):
                parts.append(Text(f"  <{f.context.value}>", style="dim"))
            last_ctx = f.context
            style = "bold green" if f.function in hl and not f.questionable else ("dim" if f.questionable else "")
            parts.append(Text("     " + frame_text(f), style=style))
    for skb in r.skbs:
        parts.append(Text("\nsk_buff / skb_shared_info:", style="bold"))
        for line in shinfo_lines(skb):
            parts.append(Text(line))
    if r.other_events:
        parts.append(Text("\nOther events in the log:", style="bold"))
        for ev in r.other_events:
            parts.append(Text(f"  line {ev.line}: {ev.title}" if ev.line else f"  {ev.title}"))
    if r.notes:
        parts.append(Text("\nNotes:", style="bold"))
        for n in r.notes:
            parts.append(Text(f"  - {n}"))
    return Group(*parts)


def format_analysis(analysis: Analysis, options: RenderOptions) -> str:
    """Render to a string (rich; plain text without ``options.color``)."""
    color = options.color
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        width=options.width or 110,
        highlight=False,
        soft_wrap=False,
    )
    console.print(_build(analysis.diagnosis, analysis.document, options.verbose))
    return buf.getvalue()
