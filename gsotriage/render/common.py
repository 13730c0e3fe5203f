"""Facts every human-facing renderer shows, computed once."""

from __future__ import annotations

from typing import List, Optional, Set

from gsotriage.match.clauses import FramePattern, FramesClause, Tri
from gsotriage.match.engine import RULED_OUT, Diagnosis, Evidence, Verdict
from gsotriage.model import CrashReport, Frame, Skb

__all__ = ["frame_text", "headline", "kernel_line", "loser_reason", "matched_frame_patterns", "shinfo_lines"]


def kernel_line(report: CrashReport) -> str:
    k = report.kernel
    parts = [k.release or "unknown release"]
    if k.distro_version:
        parts.append(f"({k.distro_version})")
    elif k.version:
        parts.append(f"({k.version})")
    if k.taint_flags:
        parts.append("tainted " + "".join(k.taint_flags))
    return " ".join(parts)


def headline(report: CrashReport) -> str:
    p = report.panic
    if report.live:
        return "live kernel (no panic: exposure report)"
    if p.kind is None and p.function is None:
        return "no oops, BUG, WARN or panic found"
    where = ""
    if p.function:
        where = f" in {p.function}"
        if p.offset is not None:
            where += f"+{p.offset:#x}"
            if p.size is not None:
                where += f"/{p.size:#x}"
        if p.module:
            where += f" [{p.module}]"
    kind = p.kind.value if p.kind else "crash (kind unknown)"
    msg = f": {p.message}" if p.message else ""
    who = ""
    if p.comm or p.pid is not None or p.cpu is not None:
        who = (
            f" (CPU {p.cpu if p.cpu is not None else '?'}, PID {p.pid if p.pid is not None else '?'}, {p.comm or '?'})"
        )
    return f"{kind}{where}{who}{msg}"


def frame_text(f: Frame) -> str:
    text = f.function
    if f.offset is not None:
        text += f"+{f.offset:#x}"
        if f.size is not None:
            text += f"/{f.size:#x}"
    if f.module:
        text += f" [{f.module}]"
    if f.source:
        text += f" ({f.source})"
    if f.inline:
        text += " (inlined)"
    return ("? " if f.questionable else "") + text


def matched_frame_patterns(verdict: Optional[Verdict]) -> List[FramePattern]:
    if verdict is None:
        return []
    out: List[FramePattern] = []
    for spec in verdict.signature.clauses:
        if isinstance(spec.clause, FramesClause):
            out += spec.clause.patterns
    return out


def is_highlighted(f: Frame, patterns: List[FramePattern]) -> bool:
    return not f.questionable and any(p.matches(f.function, f.module) for p in patterns)


def shinfo_lines(skb: Skb) -> List[str]:
    sh = skb.shinfo

    def v(x: Optional[int], hexa: bool = False) -> str:
        if x is None:
            return "not observed"
        return hex(x) if hexa else str(x)

    flags = "|".join(sh.gso_type_flags) if sh.gso_type_flags else ("none" if sh.gso_type == 0 else "not decoded")
    lines = [
        f"skb {v(skb.address, True)} ({skb.origin})",
        f"  gso_size  {v(sh.gso_size)}" + ("  (GSO_BY_FRAGS)" if sh.gso_size == 0xFFFF else ""),
        f"  gso_segs  {v(sh.gso_segs)}",
        f"  gso_type  {v(sh.gso_type)}" + (f" = {flags}" if sh.gso_type is not None else ""),
    ]
    if sh.gso_type_table:
        lines.append(f"            decoded by {sh.gso_type_table}")
    lines += [
        f"  frag_list {v(sh.frag_list, True)}"
        + (f" ({sh.frag_list_count} members)" if sh.frag_list_count is not None and sh.frag_list else ""),
        f"  nr_frags  {v(sh.nr_frags)}",
    ]
    if sh.dataref is not None:
        lines.append(f"  dataref   {sh.dataref}")
    geo = [
        f"{name}={getattr(skb, name)}"
        for name in (
            "len",
            "data_len",
            "headlen",
            "truesize",
            "ip_summed",
            "encapsulation",
            "head_frag",
            "cloned",
            "dev",
        )
        if getattr(skb, name) is not None
    ]
    if geo:
        lines.append("  " + " ".join(geo))
    if sh.frag_list_members:
        for i, m in enumerate(sh.frag_list_members):
            lines.append(f"    member {i}: len={m.len} headlen={m.headlen} head_frag={m.head_frag}")
    return lines


_OBSERVED_MAX = 60


def _contradiction(e: Evidence) -> str:
    """What was seen instead, short enough for a table cell (the full text is in the JSON)."""
    if e.kind == "frames":
        return "not on the stack"
    if e.kind == "frames_absent":
        return e.observed or "present"
    obs = e.observed if e.observed is not None else "not observed"
    return "observed: " + (obs if len(obs) <= _OBSERVED_MAX else obs[: _OBSERVED_MAX - 3] + "...")


def loser_reason(v: Verdict, top: Optional[Verdict]) -> str:
    """Why ``v`` is not the answer: what contradicts it, or what it lacks."""
    if v.status == RULED_OUT:
        return "ruled out: " + "; ".join(f"{e.clause} ({_contradiction(e)})" for e in v.contradicted_by)
    unknown = [e.clause for e in v.unknown_required]
    lacks = f"; lacks (not observed): {', '.join(unknown)}" if unknown else ""
    fixed = [e for e in v.evidence if e.kind == "fix_status" and e.result is Tri.FALSE]
    carried = f"; this kernel carries its fix ({fixed[0].clause.rsplit(' ', 1)[-1]})" if fixed else ""
    if top is not None and v.tie and abs(v.log_score - top.log_score) < 1e-6:
        return "TIE with the top verdict: the evidence cannot separate them" + lacks + carried
    if top is not None and v.signature.generic and not top.signature.generic:
        return f"generic class: a specific root cause explains more of the crash (score {v.score:.2f})" + carried
    against = [e.clause for e in v.evidence if not e.required and e.result is Tri.FALSE and e.kind != "fix_status"]
    why = f"score {v.score:.2f}" + (f" vs {top.score:.2f}" if top is not None else "")
    if top is None:  # nothing named: what would confirm this candidate
        check = [e.clause for e in v.evidence if not e.required and e.result is Tri.UNKNOWN and e.kind != "fix_status"]
        why += f"; to check: {', '.join(check)}" if check else ""
    if against:
        why += "; against it: " + ", ".join(against)
    return why + lacks + carried


def shown_in_differential(v: Verdict, top: Optional[Verdict], verbose: bool) -> bool:
    """Generic classes that nothing supports (ruled out, or score 0) are noise unless asked for."""
    if v is top:
        return False
    if verbose:
        return True
    if not v.anchored:
        return False
    return not v.signature.generic or v.status != RULED_OUT


def highlighted_names(diag: Diagnosis) -> Set[str]:
    pats = matched_frame_patterns(diag.top)
    return {f.function for f in diag.report.frames if is_highlighted(f, pats)}
