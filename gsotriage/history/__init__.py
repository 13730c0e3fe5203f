"""The crash history: every recorded analysis document, queried over time windows.

``store`` holds the database (schema, migrations, writes, queries); ``record``
is the one function the commands call to record an analysis. Used by
``analyze --record``, ``batch`` and ``history``; knows nothing of the CLI.
"""

from .record import record_analysis
from .store import HistoryDB, HistoryError, default_db_path, parse_when, query_history, render_history_text

__all__ = [
    "HistoryDB",
    "HistoryError",
    "default_db_path",
    "parse_when",
    "query_history",
    "record_analysis",
    "render_history_text",
]
