"""Reports over the history: top root causes, per kernel release, unknown-crash buckets, in a window.

The same on every backend: rows in the time window come from SQL (indexed ``recorded_at``);
the kernel filter is Python's ``re.search`` and the aggregation is done here, so SQLite and
PostgreSQL give the same document for the same analyses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .store import HistoryDB, timestamp

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "BucketRow",
    "HistoryReport",
    "KernelRow",
    "RootCauseRow",
    "parse_when",
    "query_history",
    "render_history_text",
]

REPORT_SCHEMA_VERSION = "1.0"  # of the `history --format json` document

_REL = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, now: Optional[datetime] = None) -> datetime:
    """'7d', '12h', '30m', '2w', or an ISO date/time ('2026-11-01', '2026-11-01T12:00'); naive = UTC."""
    now = now or datetime.now(timezone.utc)
    m = _REL.match(text.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (7d, 12h, 30m, 2w) nor a date (2026-11-01)") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RootCauseRow:
    root_cause: str
    count: int
    first_seen: str
    last_seen: str
    kernels: Tuple[str, ...]


@dataclass(frozen=True)
class KernelRow:
    release: str
    count: int
    unknown: int
    root_causes: Tuple[Tuple[str, int], ...]


@dataclass(frozen=True)
class BucketRow:
    bucket: str
    count: int
    first_seen: str
    last_seen: str
    kernels: Tuple[str, ...]


@dataclass(frozen=True)
class HistoryReport:
    since: Optional[str]
    until: Optional[str]
    kernel: Optional[str]
    total: int
    root_causes: Tuple[RootCauseRow, ...]
    kernels: Tuple[KernelRow, ...]
    buckets: Tuple[BucketRow, ...]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "window": {"since": self.since, "until": self.until, "kernel": self.kernel},
            "total": self.total,
            "root_causes": [
                {
                    "root_cause": r.root_cause,
                    "count": r.count,
                    "first_seen": r.first_seen,
                    "last_seen": r.last_seen,
                    "kernels": list(r.kernels),
                }
                for r in self.root_causes
            ],
            "kernels": [
                {
                    "release": k.release,
                    "count": k.count,
                    "unknown": k.unknown,
                    "root_causes": {rc: n for rc, n in k.root_causes},
                }
                for k in self.kernels
            ],
            "unknown_buckets": [
                {
                    "bucket": b.bucket,
                    "count": b.count,
                    "first_seen": b.first_seen,
                    "last_seen": b.last_seen,
                    "kernels": list(b.kernels),
                }
                for b in self.buckets
            ],
        }


_UNKNOWN_KERNEL = "(unknown)"


def query_history(
    db: HistoryDB,
    *,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
    kernel: Optional[str] = None,
) -> HistoryReport:
    """Top root causes, per-kernel breakdown and unknown-crash buckets over [since, until)."""
    pattern = re.compile(kernel) if kernel is not None else None  # a bad pattern: re.error, the caller's usage error
    rows = [r for r in db.window(since, until) if pattern is None or (r[1] is not None and pattern.search(r[1]))]
    return _aggregate(
        rows,
        since=timestamp(since) if since else None,
        until=timestamp(until) if until else None,
        kernel=kernel,
    )


def _aggregate(
    rows: Sequence[Tuple[str, Optional[str], Optional[str], Optional[int], Optional[str]]],
    *,
    since: Optional[str],
    until: Optional[str],
    kernel: Optional[str],
) -> HistoryReport:
    causes: Dict[str, List[Any]] = {}
    buckets: Dict[str, List[Any]] = {}
    kernels: Dict[str, Dict[str, int]] = {}
    unknown: Dict[str, int] = {}
    for at, release, root, specific, bucket in rows:
        rel = release or _UNKNOWN_KERNEL
        kernels.setdefault(rel, {})
        if specific and root:
            key, table = root, causes
            kernels[rel][root] = kernels[rel].get(root, 0) + 1
        else:
            key, table = bucket or "(no bucket)", buckets
            unknown[rel] = unknown.get(rel, 0) + 1
        entry = table.setdefault(key, [0, at, at, set()])
        entry[0] += 1
        entry[1] = min(entry[1], at)
        entry[2] = max(entry[2], at)
        entry[3].add(rel)

    def order(table: Dict[str, List[Any]]) -> List[Tuple[str, List[Any]]]:
        return sorted(table.items(), key=lambda kv: (-kv[1][0], kv[0]))

    return HistoryReport(
        since=since,
        until=until,
        kernel=kernel,
        total=len(rows),
        root_causes=tuple(RootCauseRow(k, v[0], v[1], v[2], tuple(sorted(v[3]))) for k, v in order(causes)),
        kernels=tuple(
            KernelRow(
                rel,
                sum(per.values()) + unknown.get(rel, 0),
                unknown.get(rel, 0),
                tuple(sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))),
            )
            for rel, per in sorted(kernels.items())
        ),
        buckets=tuple(BucketRow(k, v[0], v[1], v[2], tuple(sorted(v[3]))) for k, v in order(buckets)),
    )


def render_history_text(rep: HistoryReport) -> str:
    window = f"{rep.since or 'beginning'} .. {rep.until or 'now'}"
    if rep.kernel:
        window += f", kernel ~ /{rep.kernel}/"
    out = [f"{rep.total} analyses recorded ({window})", ""]
    out.append("Root causes:")
    if not rep.root_causes:
        out.append("  (none)")
    for r in rep.root_causes:
        out.append(f"  {r.count:5}  {r.root_cause}")
        out.append(f"         first {r.first_seen}  last {r.last_seen}  kernels: {', '.join(r.kernels)}")
    out += ["", "Per kernel release:"]
    if not rep.kernels:
        out.append("  (none)")
    for k in rep.kernels:
        parts = [f"{rc} {n}" for rc, n in k.root_causes]
        if k.unknown:
            parts.append(f"unknown {k.unknown}")
        out.append(f"  {k.count:5}  {k.release}: {'; '.join(parts)}")
    out += ["", "Unknown crashes (no specific root cause), by bucket:"]
    if not rep.buckets:
        out.append("  (none)")
    for b in rep.buckets:
        out.append(f"  {b.count:5}  {b.bucket}  (last {b.last_seen}; kernels: {', '.join(b.kernels)})")
    return "\n".join(out) + "\n"
