"""One schema for both databases: table ``analyses``, what its columns are read from, and the
forward migrations, written once.

SQLite (the embedded default) and PostgreSQL (a fleet's shared history) run the same steps;
the few statements they spell differently come from the backend's :class:`Dialect`. A step
takes a database at version ``i`` to ``i + 1``; :data:`MIGRATIONS` only ever grows.

- v1: the first table (document, time, path, kernel, root cause, status).
- v2: denormalised query columns, backfilled from the stored documents; time/kernel indexes.
- v3: one row per input: ``input_key`` NOT NULL and UNIQUE (rows without a key get
  ``row:<id>``; of duplicated keys the newest row stays), and ``origin`` (who recorded it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

__all__ = [
    "COLUMNS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Column",
    "Dialect",
    "MigrationConn",
    "column_values",
    "create_indexes",
    "create_table_sql",
    "document_key",
    "migrate",
    "row_for",
]

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # portable: TEXT, INTEGER or REAL (the dialect maps REAL)
    since: int  # the schema version that added it
    constraint: str = ""


# Table order. `id` is the dialect's own auto-increment primary key, first.
COLUMNS: Tuple[Column, ...] = (
    Column("recorded_at", "TEXT", 1, "NOT NULL"),  # UTC, fixed-width ISO 8601: text order is time order
    Column("input_path", "TEXT", 1),
    Column("kernel_release", "TEXT", 1),
    Column("root_cause", "TEXT", 1),
    Column("status", "TEXT", 1),
    Column("document", "TEXT", 1, "NOT NULL"),  # the (compact) JSON, byte-stable (not JSONB: key order kept)
    Column("input_key", "TEXT", 2),  # NOT NULL UNIQUE from v3
    Column("kernel_version", "TEXT", 2),
    Column("score", "REAL", 2),
    Column("specific", "INTEGER", 2),
    Column("bucket", "TEXT", 2),
    Column("panic_kind", "TEXT", 2),
    Column("function", "TEXT", 2),
    Column("tool_version", "TEXT", 2),
    Column("signature_digest", "TEXT", 2),
    Column("origin", "TEXT", 3),
)

KEY_CONSTRAINT = "NOT NULL UNIQUE"


class Dialect(Protocol):
    """What differs between the backends, and nothing else."""

    name: str
    id_column: str  # the auto-increment primary key's definition

    def sql_type(self, portable: str) -> str: ...

    def make_key_unique(self, conn: MigrationConn) -> None:
        """v3: make ``input_key`` NOT NULL UNIQUE (the column holds no NULL and no duplicate yet)."""


class MigrationConn(Protocol):
    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]: ...


def create_table_sql(dialect: Dialect, name: str, version: int) -> str:
    """``CREATE TABLE`` for the table as it is at ``version`` (v3 and later: unique keys)."""
    cols = [dialect.id_column]
    for c in COLUMNS:
        if c.since > version:
            continue
        constraint = KEY_CONSTRAINT if (c.name == "input_key" and version >= 3) else c.constraint
        cols.append(f"{c.name} {dialect.sql_type(c.type)} {constraint}".rstrip())
    return f"CREATE TABLE {name} ({', '.join(cols)})"


def create_indexes(conn: MigrationConn) -> None:
    conn.execute("CREATE INDEX analyses_recorded_at ON analyses(recorded_at)")
    conn.execute("CREATE INDEX analyses_kernel ON analyses(kernel_release)")


# --- what the columns are read from ------------------------------------------------------------


def _get(doc: Mapping[str, Any], *keys: str) -> Any:
    cur: Any = doc
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur


def column_values(doc: Mapping[str, Any]) -> Dict[str, Any]:
    """The query columns of one analysis document (``analyze --format json``)."""
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


def document_key(doc: Mapping[str, Any]) -> str:
    """A key for an input that has no path to key it by (standard input): the report it gave,
    under this tool and signature library, so the same report recorded twice is one row."""
    basis = json.dumps(
        [doc.get("report"), _get(doc, "tool", "version"), _get(doc, "signatures", "digest")],
        sort_keys=True,
        separators=(",", ":"),
    )
    return "doc:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


# --- migrations --------------------------------------------------------------------------------


def _v1(conn: MigrationConn) -> None:
    conn.execute(create_table_sql(conn.dialect, "analyses", 1))


def _v2(conn: MigrationConn) -> None:
    """Denormalised columns for queries, backfilled from the stored documents; time/kernel indexes."""
    for c in COLUMNS:
        if c.since == 2:
            conn.execute(f"ALTER TABLE analyses ADD COLUMN {c.name} {conn.dialect.sql_type(c.type)}")
    names = [c.name for c in COLUMNS if c.since == 2 and c.name != "input_key"]
    # Column names are our own constants; every value is a bound parameter.
    update = "UPDATE analyses SET " + ", ".join(f"{n} = ?" for n in names) + " WHERE id = ?"  # noqa: S608
    for row_id, text in conn.query("SELECT id, document FROM analyses"):
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        values = column_values(doc)
        conn.execute(update, [values[n] for n in names] + [row_id])
    create_indexes(conn)


def _v3(conn: MigrationConn) -> None:
    """One row per input key; ``origin``."""
    conn.execute("UPDATE analyses SET input_key = 'row:' || CAST(id AS TEXT) WHERE input_key IS NULL")
    conn.execute("DELETE FROM analyses WHERE id NOT IN (SELECT MAX(id) FROM analyses GROUP BY input_key)")
    conn.execute("ALTER TABLE analyses ADD COLUMN origin TEXT")
    conn.dialect.make_key_unique(conn)


MIGRATIONS: Tuple[Callable[[MigrationConn], None], ...] = (_v1, _v2, _v3)
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(conn: MigrationConn, current: int, target: int = SCHEMA_VERSION) -> None:
    """Run the steps from ``current`` to ``target`` (inside the caller's transaction)."""
    for step in range(current, target):
        MIGRATIONS[step](conn)


def row_for(
    document: Mapping[str, Any],
    *,
    recorded_at: str,
    input_path: Optional[str],
    input_key: str,
    origin: Optional[str],
) -> Dict[str, Any]:
    """Every column of one row but ``id``, in table order."""
    values = {
        "recorded_at": recorded_at,
        "input_path": input_path,
        "input_key": input_key,
        "origin": origin,
        **column_values(document),
        "document": json.dumps(document, separators=(",", ":")),
    }
    return {c.name: values[c.name] for c in COLUMNS}
