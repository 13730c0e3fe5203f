"""The history database, whichever backend: open (and migrate), record (upsert by input key), read.

``target`` is a path to an SQLite file (the embedded default), ``sqlite:///path``, or a
``postgresql://`` URL. Every analysis is one row keyed by its input key (the batch resume key,
``gsotriage.batch.keys``): recording the same input again updates its row, never adds one, so
a redelivered task, a re-run batch or ``--resume`` cannot duplicate history.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Set, Tuple, Union

from .schema import SCHEMA_VERSION, document_key, migrate, row_for

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "HistoryDB",
    "HistoryError",
    "default_db",
    "default_db_path",
    "is_url",
    "timestamp",
]

DEFAULT_BUSY_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 10.0
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so text order is time order
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.I)
_KEY_CHUNK = 500


class HistoryError(Exception):
    """The database cannot be opened, migrated or written (unreachable, locked, newer schema, not a
    database). ``transient``: the same write may succeed later (locked, connection lost)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def default_db_path() -> Path:
    env = os.environ.get("GSOTRIAGE_DB")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "gsotriage" / "history.sqlite3"


def default_db() -> str:
    """``$GSOTRIAGE_DB`` as given (a path or a postgresql:// URL), else the default SQLite file."""
    return os.environ.get("GSOTRIAGE_DB") or str(default_db_path())


def is_url(target: Union[str, Path]) -> bool:
    return isinstance(target, str) and _URL.match(target) is not None


def timestamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(_TS)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _unreachable(exc: BaseException) -> bool:
    """An open that may work later: a server not (yet) reachable, a file locked by a writer."""
    if type(exc).__module__.startswith("psycopg"):
        return type(exc).__name__ == "OperationalError"
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _open_backend(target: Union[str, Path], busy_timeout: float, connect_timeout: float) -> Any:
    if isinstance(target, Path) or not is_url(target):
        from .sqlite import SQLiteBackend

        return SQLiteBackend(Path(target), busy_timeout)
    scheme = _URL.match(str(target)).group(1).lower()  # type: ignore[union-attr]
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresBackend

        return PostgresBackend(str(target), connect_timeout)
    if scheme == "sqlite":
        from .sqlite import SQLiteBackend

        return SQLiteBackend(Path(str(target)[len("sqlite://") :]), busy_timeout)
    raise HistoryError(f"history database {target}: unsupported URL scheme {scheme!r} (sqlite or postgresql)")


def _location(target: Union[str, Path]) -> str:
    if is_url(target):
        from .postgres import redact_url

        return redact_url(str(target))
    return str(target)


class HistoryDB:
    """One connection to the history database, migrated to :data:`SCHEMA_VERSION` on open."""

    def __init__(
        self,
        target: Union[str, Path],
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self.location = _location(target)
        try:
            self.backend = _open_backend(target, busy_timeout, connect_timeout)
        except HistoryError:
            raise
        except ImportError as exc:
            raise HistoryError(f"history database {self.location}: {exc}") from None
        except Exception as exc:  # sqlite3.Error, psycopg.Error, OSError: one line, never a traceback
            raise HistoryError(
                f"cannot open history database {self.location}: {_one_line(exc)}", transient=_unreachable(exc)
            ) from None
        try:
            self._migrate()
        except HistoryError:
            self.backend.close()
            raise
        except self.backend.errors as exc:
            self.backend.close()
            raise self._fail("history database", exc) from None

    @property
    def dialect(self) -> str:
        return str(self.backend.dialect.name)

    @property
    def path(self) -> Optional[Path]:
        """The SQLite file, or None for a server database."""
        return getattr(self.backend, "path", None)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> HistoryDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self.backend.schema_version()

    def _migrate(self) -> None:
        if self.backend.schema_version() == SCHEMA_VERSION:
            return
        with self.backend.migration():
            current = self.backend.schema_version()  # again, under the lock: another process may have migrated
            if current > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.location} has schema v{current}, newer than this gsotriage "
                    f"(v{SCHEMA_VERSION}); upgrade gsotriage"
                )
            migrate(self.backend, current)
            self.backend.set_schema_version(SCHEMA_VERSION)

    def _fail(self, what: str, exc: BaseException) -> HistoryError:
        return HistoryError(f"{what} {self.location}: {_one_line(exc)}", transient=self.backend.transient(exc))

    def record(
        self,
        document: Mapping[str, Any],
        *,
        input_path: Optional[str],
        input_key: Optional[str] = None,
        recorded_at: Optional[datetime] = None,
        origin: Optional[str] = None,
    ) -> int:
        """Insert or update the row of ``input_key`` (default: a key derived from the document);
        returns its id. The stored document is its compact form (``compact_document``: every
        verdict listed, the signatures' prose left to the library its digest names). Raises
        HistoryError (``transient`` when locked or disconnected)."""
        if not document.get("compact"):
            from gsotriage.analysis.document import compact_document

            document = compact_document(dict(document))
        row = row_for(
            document,
            recorded_at=timestamp(recorded_at or datetime.now(timezone.utc)),
            input_path=input_path,
            input_key=input_key or document_key(document),
            origin=origin,
        )
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        updates = ", ".join(f"{n} = excluded.{n}" for n in row if n != "input_key")
        # Column names are our own constants; every value is a bound parameter.
        sql = f"INSERT INTO analyses ({names}) VALUES ({marks}) ON CONFLICT (input_key) DO UPDATE SET {updates}"  # noqa: S608
        try:
            self.backend.reconnect_if_broken()
            with self.backend.transaction():
                self.backend.execute(sql, list(row.values()))
                found = self.backend.query("SELECT id FROM analyses WHERE input_key = ?", [row["input_key"]])
        except self.backend.errors as exc:
            raise self._fail("cannot record into", exc) from None
        except OSError as exc:
            raise HistoryError(f"cannot record into {self.location}: {exc}", transient=True) from None
        return int(found[0][0]) if found else 0

    def existing_keys(self, keys: Iterable[str]) -> Set[str]:
        """The subset of ``keys`` that has a row."""
        wanted = list(dict.fromkeys(keys))
        found: Set[str] = set()
        try:
            self.backend.reconnect_if_broken()
            for i in range(0, len(wanted), _KEY_CHUNK):
                chunk = wanted[i : i + _KEY_CHUNK]
                marks = ", ".join("?" for _ in chunk)
                sql = f"SELECT input_key FROM analyses WHERE input_key IN ({marks})"  # noqa: S608
                found.update(str(r[0]) for r in self.backend.query(sql, chunk))
        except self.backend.errors as exc:
            raise self._fail("cannot read", exc) from None
        return found

    def count(self) -> int:
        return int(self.backend.query("SELECT COUNT(*) FROM analyses")[0][0])

    def query(self, sql: str, params: Iterable[Any] = ()) -> List[Tuple[Any, ...]]:
        """Read-only SQL with ``?`` placeholders, on either backend (tests, tools)."""
        try:
            return self.backend.query(sql, list(params))
        except self.backend.errors as exc:
            raise self._fail("cannot read", exc) from None

    def window(
        self, since: Optional[datetime], until: Optional[datetime]
    ) -> List[Tuple[str, Optional[str], Optional[str], Optional[int], Optional[str]]]:
        """(recorded_at, kernel_release, root_cause, specific, bucket) of the rows in [since, until)."""
        where: List[str] = []
        args: List[Any] = []
        if since is not None:
            where.append("recorded_at >= ?")
            args.append(timestamp(since))
        if until is not None:
            where.append("recorded_at < ?")
            args.append(timestamp(until))
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        sql = "SELECT recorded_at, kernel_release, root_cause, specific, bucket FROM analyses" + clause  # noqa: S608
        return [tuple(r) for r in self.query(sql + " ORDER BY id", args)]  # type: ignore[misc]
