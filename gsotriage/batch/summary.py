"""The end-of-batch summary: root cause -> count and kernels, unknown buckets, failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

__all__ = ["SUMMARY_SCHEMA_VERSION", "BatchSummary", "CauseCount", "render_summary_text", "summarize"]

SUMMARY_SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class CauseCount:
    name: str
    count: int
    kernels: Tuple[str, ...]


@dataclass(frozen=True)
class BatchSummary:
    total: int
    analysed: int
    specific: int
    root_causes: Tuple[CauseCount, ...]
    buckets: Tuple[CauseCount, ...]
    failures: Tuple[Tuple[str, str, str], ...]  # (input, status, error)
    failure_counts: Tuple[Tuple[str, int], ...]
    not_recorded: int = 0
    resumed: int = 0
    degraded: int = 0  # analysed, but a bound was hit (batch.degraded)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "total": self.total,
            "analysed": self.analysed,
            "specific": self.specific,
            "resumed": self.resumed,
            "degraded": self.degraded,
            "not_recorded": self.not_recorded,
            "root_causes": [
                {"root_cause": c.name, "count": c.count, "kernels": list(c.kernels)} for c in self.root_causes
            ],
            "unknown_buckets": [{"bucket": c.name, "count": c.count, "kernels": list(c.kernels)} for c in self.buckets],
            "failures": {
                "counts": dict(self.failure_counts),
                "inputs": [{"input": i, "status": s, "error": e} for i, s, e in self.failures],
            },
        }


def _get(doc: Mapping[str, Any], *keys: str) -> Any:
    cur: Any = doc
    for k in keys:
        cur = cur.get(k) if isinstance(cur, Mapping) else None
    return cur


def summarize(lines: Iterable[Mapping[str, Any]], *, resumed: int = 0) -> BatchSummary:
    """Lines are result lines (``batch`` envelope + analyze document), one per input."""
    causes: Dict[str, List[Any]] = {}
    buckets: Dict[str, List[Any]] = {}
    failures: List[Tuple[str, str, str]] = []
    counts: Dict[str, int] = {}
    total = analysed = specific = degraded = 0
    for line in lines:
        total += 1
        env = line.get("batch") or {}
        status = env.get("status", "internal-error")
        if status != "ok":
            failures.append((str(env.get("input")), status, str(env.get("error") or "")))
            counts[status] = counts.get(status, 0) + 1
            continue
        analysed += 1
        if env.get("degraded"):
            degraded += 1
        release = _get(line, "report", "kernel", "release") or "(unknown)"
        if _get(line, "summary", "specific"):
            specific += 1
            name, table = str(_get(line, "summary", "root_cause")), causes
        else:
            name, table = str(_get(line, "report", "bucket") or "(no bucket)"), buckets
        entry = table.setdefault(name, [0, set()])
        entry[0] += 1
        entry[1].add(release)

    def rows(table: Dict[str, List[Any]]) -> Tuple[CauseCount, ...]:
        ordered = sorted(table.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return tuple(CauseCount(k, v[0], tuple(sorted(v[1]))) for k, v in ordered)

    return BatchSummary(
        total=total,
        analysed=analysed,
        specific=specific,
        root_causes=rows(causes),
        buckets=rows(buckets),
        failures=tuple(failures),
        failure_counts=tuple(sorted(counts.items())),
        resumed=resumed,
        degraded=degraded,
    )


def render_summary_text(s: BatchSummary, *, output: Optional[str] = None, max_failures: int = 20) -> str:
    out = [
        f"{s.total} inputs: {s.analysed} analysed ({s.specific} with a specific root cause), "
        f"{len(s.failures)} failed" + (f"; {s.resumed} taken from an earlier run" if s.resumed else "")
    ]
    if output:
        out[0] += f"; results in {output}"
    width = max([len(c.name) for c in s.root_causes + s.buckets] + [10])
    out += ["", "Root causes:"]
    out += [f"  {c.count:5}  {c.name:{width}}  kernels: {', '.join(c.kernels)}" for c in s.root_causes] or ["  (none)"]
    out += ["", "Unknown crashes (no specific root cause), by bucket:"]
    out += [f"  {c.count:5}  {c.name:{width}}  kernels: {', '.join(c.kernels)}" for c in s.buckets] or ["  (none)"]
    if s.failures:
        out += ["", "Failures: " + ", ".join(f"{st} {n}" for st, n in s.failure_counts)]
        for inp, st, err in s.failures[:max_failures]:
            out.append(f"  {st:14} {inp}: {err}")
        if len(s.failures) > max_failures:
            out.append(f"  ... and {len(s.failures) - max_failures} more (see the results file)")
    if s.degraded:
        out += [
            "",
            f"{s.degraded} result(s) are degraded: the analysis hit a bound and stands on what was read "
            "(report.limits); rerun them with --resume --retry degraded",
        ]
    if s.not_recorded:
        out += [
            "",
            f"{s.not_recorded} result(s) could not be recorded in the history database"
            " (their result lines are written: rerun with --resume to record them)",
        ]
    return "\n".join(out) + "\n"
