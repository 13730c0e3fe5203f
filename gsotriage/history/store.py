"""Crash history: every recorded analysis in SQLite, with forward migrations and window queries.

The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` holds one function per
version step and only ever grows. WAL mode lets readers run beside one writer; every write is one
``BEGIN IMMEDIATE`` transaction, so a row is either fully there or not at all.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BucketRow",
    "HistoryDB",
    "HistoryError",
    "HistoryReport",
    "KernelRow",
    "RootCauseRow",
    "default_db_path",
    "parse_when",
    "query_history",
]

SCHEMA_VERSION = 2
REPORT_SCHEMA_VERSION = "1.0"  # of the `history --format json` document
DEFAULT_BUSY_TIMEOUT = 5.0
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so text order is time order


class HistoryError(Exception):
    """The database cannot be opened, migrated or written (locked, newer schema, not a database)."""


def default_db_path() -> Path:
    env = os.environ.get("GSOTRIAGE_DB")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "gsotriage" / "history.sqlite3"


def _ts(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(_TS)


# --- migrations --------------------------------------------------------------------------------


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE analyses ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " recorded_at TEXT NOT NULL,"
        " input_path TEXT,"
        " kernel_release TEXT,"
        " root_cause TEXT,"
        " status TEXT,"
        " document TEXT NOT NULL)"
    )


_V2_COLUMNS = (
    ("input_key", "TEXT"),
    ("kernel_version", "TEXT"),
    ("score", "REAL"),
    ("specific", "INTEGER"),
    ("bucket", "TEXT"),
    ("panic_kind", "TEXT"),
    ("function", "TEXT"),
    ("tool_version", "TEXT"),
    ("signature_digest", "TEXT"),
)


def _v2(conn: sqlite3.Connection) -> None:
    """Denormalised columns for queries, backfilled from the stored documents; time/kernel indexes."""
    for name, sqltype in _V2_COLUMNS:
        conn.execute(f"ALTER TABLE analyses ADD COLUMN {name} {sqltype}")
    rows = conn.execute("SELECT id, document FROM analyses").fetchall()
    for row_id, text in rows:
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        cols = _columns(doc)
        conn.execute(
            "UPDATE analyses SET kernel_version=?, score=?, specific=?, bucket=?, panic_kind=?, function=?,"
            " tool_version=?, signature_digest=? WHERE id=?",
            (
                cols["kernel_version"],
                cols["score"],
                cols["specific"],
                cols["bucket"],
                cols["panic_kind"],
                cols["function"],
                cols["tool_version"],
                cols["signature_digest"],
                row_id,
            ),
        )
    conn.execute("CREATE INDEX analyses_recorded_at ON analyses(recorded_at)")
    conn.execute("CREATE INDEX analyses_kernel ON analyses(kernel_release)")


# MIGRATIONS[i] takes a database at user_version i to i + 1. Append only.
MIGRATIONS: Tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2)
assert len(MIGRATIONS) == SCHEMA_VERSION


def _get(doc: Mapping[str, Any], *keys: str) -> Any:
    cur: Any = doc
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur


def _columns(doc: Mapping[str, Any]) -> Dict[str, Any]:
    root = _get(doc, "summary", "root_cause")
    top = next((v for v in doc.get("verdicts") or [] if v.get("signature") == root), None)
    specific = _get(doc, "summary", "specific")
    return {
        "kernel_release": _get(doc, "report", "kernel", "release"),
        "kernel_version": _get(doc, "report", "kernel", "version"),
        "root_cause": root,
        "status": _get(doc, "summary", "status"),
        "score": top.get("score") if top else None,
        "specific": None if specific is None else int(bool(specific)),
        "bucket": _get(doc, "report", "bucket"),
        "panic_kind": _get(doc, "report", "panic", "kind"),
        "function": _get(doc, "report", "panic", "function"),
        "tool_version": _get(doc, "tool", "version"),
        "signature_digest": _get(doc, "signatures", "digest"),
    }


def _regexp(pattern: str, value: Optional[str]) -> bool:
    return value is not None and re.search(pattern, value) is not None


class HistoryDB:
    """One connection to the history database, migrated to :data:`SCHEMA_VERSION` on open."""

    def __init__(self, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            self.conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open history database {self.path}: {exc}") from None
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.create_function("REGEXP", 2, _regexp, deterministic=True)
            self._migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise HistoryError(f"history database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HistoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.version == SCHEMA_VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current = self.version  # again, under the write lock: another process may have migrated
            if current > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.path} has schema v{current}, newer than this gsotriage "
                    f"(v{SCHEMA_VERSION}); upgrade gsotriage"
                )
            for step in range(current, SCHEMA_VERSION):
                MIGRATIONS[step](self.conn)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def record(
        self,
        document: Mapping[str, Any],
        *,
        input_path: Optional[str],
        input_key: Optional[str] = None,
        recorded_at: Optional[datetime] = None,
    ) -> int:
        """Insert one analysis document; returns the row id. Raises HistoryError (e.g. database locked)."""
        cols = _columns(document)
        values = {
            "recorded_at": _ts(recorded_at or datetime.now(timezone.utc)),
            "input_path": input_path,
            "input_key": input_key,
            **cols,
            "document": json.dumps(document, separators=(",", ":")),
        }
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Column names are our own constants; every value is a bound parameter.
                sql = f"INSERT INTO analyses ({names}) VALUES ({marks})"  # noqa: S608
                cur = self.conn.execute(sql, tuple(values.values()))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot record into {self.path}: {exc}") from None
        return int(cur.lastrowid or 0)

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])


# --- queries -----------------------------------------------------------------------------------

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
    where: List[str] = []
    args: List[Any] = []
    if since is not None:
        where.append("recorded_at >= ?")
        args.append(_ts(since))
    if until is not None:
        where.append("recorded_at < ?")
        args.append(_ts(until))
    if kernel is not None:
        re.compile(kernel)  # a bad pattern is the caller's usage error, raised here as re.error
        where.append("kernel_release REGEXP ?")
        args.append(kernel)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = db.conn.execute(
        "SELECT recorded_at, kernel_release, root_cause, specific, bucket FROM analyses" + clause + " ORDER BY id",  # noqa: S608
        args,
    ).fetchall()
    return _aggregate(
        rows,
        since=_ts(since) if since else None,
        until=_ts(until) if until else None,
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
