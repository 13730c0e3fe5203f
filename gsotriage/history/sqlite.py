"""The embedded history: one SQLite file, WAL mode, every write one ``BEGIN IMMEDIATE`` transaction.

The schema version lives in ``PRAGMA user_version``. A migration runs under the write lock and
reads the version again there, so two processes opening a new database at once migrate it once.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Sequence, Tuple

from .schema import COLUMNS, MigrationConn, create_indexes, create_table_sql

__all__ = ["SQLiteBackend", "SQLiteDialect"]


class SQLiteDialect:
    name = "sqlite"
    id_column = "id INTEGER PRIMARY KEY AUTOINCREMENT"

    def sql_type(self, portable: str) -> str:
        return portable

    def make_key_unique(self, conn: MigrationConn) -> None:
        # SQLite cannot add NOT NULL or UNIQUE to a column: rebuild the table (the documented way,
        # https://www.sqlite.org/lang_altertable.html#otheralter), keeping ids and column order.
        names = ", ".join(["id"] + [c.name for c in COLUMNS if c.since <= 3])
        conn.execute(create_table_sql(self, "analyses_v3", 3))
        conn.execute(f"INSERT INTO analyses_v3 ({names}) SELECT {names} FROM analyses")  # noqa: S608
        conn.execute("DROP TABLE analyses")
        conn.execute("ALTER TABLE analyses_v3 RENAME TO analyses")
        create_indexes(conn)


class SQLiteBackend:
    """One connection; ``?`` placeholders; errors are ``sqlite3.Error``."""

    dialect = SQLiteDialect()
    errors = (sqlite3.Error,)

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.location = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        self.conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, tuple(params))

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        return list(self.conn.execute(sql, tuple(params)).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    # The write lock of BEGIN IMMEDIATE already serialises migrations.
    migration = transaction

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self.conn.execute(f"PRAGMA user_version = {int(version)}")

    def transient(self, exc: BaseException) -> bool:
        """Worth retrying: another writer holds the lock."""
        text = str(exc).lower()
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)

    def reconnect_if_broken(self) -> None:
        """A local file does not drop its connection."""
