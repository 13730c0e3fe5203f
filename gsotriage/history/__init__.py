"""The crash history: every recorded analysis document, one row per input, queried over time windows.

``schema`` is the one table definition and its migrations; ``sqlite`` (the embedded default)
and ``postgres`` (a fleet's shared database, ``postgresql://`` URLs) are the backends;
``store`` opens either and records by upsert on the input key; ``query`` builds the reports;
``record`` holds the writers the commands call. Knows nothing of the CLI.
"""

from .query import HistoryReport, parse_when, query_history, render_history_text
from .record import Backoff, record_analysis, record_with_retry
from .store import HistoryDB, HistoryError, default_db, default_db_path, is_url

__all__ = [
    "Backoff",
    "HistoryDB",
    "HistoryError",
    "HistoryReport",
    "default_db",
    "default_db_path",
    "is_url",
    "parse_when",
    "query_history",
    "record_analysis",
    "record_with_retry",
    "render_history_text",
]
