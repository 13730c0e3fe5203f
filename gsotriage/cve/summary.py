"""What an import did, as data (for --format json and the benchmark) and as text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["CrossFire", "ImportSummary", "Outcome", "format_summary"]

# What happened to an in-scope record.
PROPOSED = "proposed"  # a mined signature was written (new or regenerated)
KEPT_EDITED = "kept-edited"  # its mined signature was edited by a person: only fix data refreshed
MERGED = "merged"  # a hand-written signature with the same fix got the record's data
REJECTED = "rejected"  # in scope, but no signature could be made (the detail says why)


@dataclass(frozen=True)
class Outcome:
    cve: str
    subsystem: str
    action: str
    detail: str = ""
    signature: Optional[str] = None
    trace: bool = False  # the parser read a crash site or frames from the record (or its external trace)
    trace_hint: bool = False  # the text looks like it quotes a trace
    trace_source: str = ""  # "record", "external" (cases/cve-traces/) or "" (no trace)
    external_kind: Optional[str] = None  # where an external trace came from (syzbot, patch-thread...)


@dataclass(frozen=True)
class CrossFire:
    signature: str
    case: str
    top: Optional[str]
    tie: bool


@dataclass
class ImportSummary:
    files: int = 0
    records: int = 0  # kernel CNA records read
    other: int = 0  # other CNAs' or unpublished records skipped
    read_seconds: float = 0.0
    total_seconds: float = 0.0
    outcomes: List[Outcome] = field(default_factory=list)
    problems: List[Tuple[str, str]] = field(default_factory=list)
    written: List[str] = field(default_factory=list)
    stale: List[str] = field(default_factory=list)  # edited generated files no record proposes any more (kept)
    negatives: int = 0  # non-GSO networking records kept as real negatives
    cross_fire: List[CrossFire] = field(default_factory=list)
    ties: int = 0
    ambiguous: int = 0  # hand-written partial outranked by another hand-written signature
    external: Dict[str, Any] = field(default_factory=dict)  # the cve-traces index: found / not found / not searched
    external_unused: List[str] = field(default_factory=list)  # listed traces no in-scope record used
    no_trace_unlisted: List[str] = field(default_factory=list)  # trace-less in-scope records nobody looked for
    dry_run: bool = False

    @property
    def records_per_second(self) -> float:
        return self.records / self.read_seconds if self.read_seconds > 0 else 0.0

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    def by_subsystem(self) -> Dict[str, Dict[str, int]]:
        out: Dict[str, Counter[str]] = {}
        for o in self.outcomes:
            c = out.setdefault(o.subsystem, Counter())
            c["in_scope"] += 1
            c["with_trace"] += int(o.trace)
            c["external_trace"] += int(o.trace_source == "external")
            c[o.action] += 1
        return {k: dict(v) for k, v in sorted(out.items())}

    def external_used(self) -> Dict[str, int]:
        """In-scope records whose crash came from cases/cve-traces/, by kind of source."""
        kinds = Counter(o.external_kind or "?" for o in self.outcomes if o.trace_source == "external")
        return dict(sorted(kinds.items()))

    def rejection_reasons(self) -> Dict[str, int]:
        reasons = Counter(_reason_class(o.detail) for o in self.outcomes if o.action == REJECTED)
        return dict(reasons.most_common())

    def to_dict(self) -> Dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "other_records": self.other,
            "read_seconds": round(self.read_seconds, 3),
            "records_per_second": round(self.records_per_second, 1),
            "total_seconds": round(self.total_seconds, 3),
            "in_scope": len(self.outcomes),
            "with_trace": sum(1 for o in self.outcomes if o.trace),
            "trace_not_parsed": sum(1 for o in self.outcomes if o.trace_hint and not o.trace),
            "external_traces_used": self.external_used(),
            "external_index": self.external,
            "external_unused": self.external_unused,
            "no_trace_unlisted": self.no_trace_unlisted,
            "proposed": self.count(PROPOSED),
            "kept_edited": self.count(KEPT_EDITED),
            "merged": self.count(MERGED),
            "rejected": self.count(REJECTED),
            "rejection_reasons": self.rejection_reasons(),
            "by_subsystem": self.by_subsystem(),
            "negatives": self.negatives,
            "cross_fire": [c.__dict__ for c in self.cross_fire],
            "ties": self.ties,
            "hand_written_ambiguities": self.ambiguous,
            "problems": [{"path": p, "message": m} for p, m in self.problems],
            "written": self.written,
            "stale": self.stale,
            "dry_run": self.dry_run,
            "outcomes": [o.__dict__ for o in self.outcomes],
        }


def _reason_class(detail: str) -> str:
    return detail.split(":", 1)[0].split(" (", 1)[0]


def _external_line(s: ImportSummary) -> str:
    used = s.external_used()
    e = s.external or {}
    kinds = ", ".join(f"{k}: {n}" for k, n in used.items())
    return (
        f"external traces (cases/cve-traces/): {sum(used.values())} record(s) used one"
        + (f" ({kinds})" if kinds else "")
        + f"; searched without finding one: {e.get('not_found', 0)}; not searched: {e.get('not_searched', 0)}"
    )


def format_summary(s: ImportSummary, *, verbose: bool = False) -> str:
    d = s.to_dict()
    lines = [
        f"read {s.records} kernel CVE records from {s.files} files in {s.read_seconds:.2f} s "
        f"({s.records_per_second:.0f} records/s); {s.other} other records skipped",
        f"in scope (GSO/GRO/offload/checksum/tunnel fixes): {d['in_scope']}, with a parsed trace: "
        f"{d['with_trace']} (another {d['trace_not_parsed']} quote a trace the parser did not read)",
        f"signatures proposed: {d['proposed']}, merged into hand-written signatures: {d['merged']}, "
        f"edited by a person (fix data only): {d['kept_edited']}, not usable: {d['rejected']}",
        _external_line(s),
        f"real non-GSO networking negatives: {s.negatives}",
        f"cross-fire: {len(s.cross_fire)} positive case(s) topped by another signature; ties: {s.ties}; "
        f"hand-written partials outranked by another hand-written signature: {s.ambiguous}",
        "",
        f"{'subsystem':18} {'in scope':>8} {'trace':>6} {'proposed':>8} {'merged':>6} {'rejected':>8}",
    ]
    for sub, c in d["by_subsystem"].items():
        made = c.get(PROPOSED, 0) + c.get(KEPT_EDITED, 0)
        lines.append(
            f"{sub:18} {c.get('in_scope', 0):>8} {c.get('with_trace', 0):>6} {made:>8} "
            f"{c.get(MERGED, 0):>6} {c.get(REJECTED, 0):>8}"
        )
    if d["rejection_reasons"]:
        lines += ["", "not usable:"] + [f"  {n:4}  {r}" for r, n in d["rejection_reasons"].items()]
    for c in s.cross_fire:
        lines.append(f"CROSS-FIRE {c.signature} :: {c.case} -> top {c.top}{' (tie)' if c.tie else ''}")
    for p, m in s.problems:
        lines.append(f"problem: {p}: {m}")
    if s.external_unused:
        lines.append("external traces no in-scope trace-less record used: " + ", ".join(s.external_unused))
    if s.no_trace_unlisted:
        n = len(s.no_trace_unlisted)
        lines.append(
            f"in-scope records without a trace that cases/cve-traces/index.yaml does not list ({n}): "
            + ", ".join(s.no_trace_unlisted)
        )
    if s.stale:
        lines.append("edited generated files no record proposes any more (kept): " + ", ".join(s.stale))
    if verbose:
        lines.append("")
        lines += [
            f"{o.cve:16} {o.subsystem:16} {o.action:12} {o.signature or '-'}  {o.detail}"
            + (f" [{o.external_kind} trace]" if o.trace_source == "external" else "")
            for o in s.outcomes
        ]
    verb = "would write" if s.dry_run else "wrote"
    lines.append(f"{verb} {len(s.written)} file(s) in {s.total_seconds:.1f} s")
    return "\n".join(lines) + "\n"
