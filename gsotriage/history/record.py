"""Record one analysis document in the history database."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

from .store import DEFAULT_BUSY_TIMEOUT, HistoryDB, HistoryError, default_db_path

__all__ = ["record_analysis"]


def record_analysis(
    document: Dict[str, Any],
    path: str,
    db: Optional[str],
    *,
    warn: Callable[[str], None],
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> bool:
    """For ``analyze --record``: a failure to record is a warning (through ``warn``),
    never a change of verdict or exit code."""
    try:
        with HistoryDB(db or str(default_db_path()), busy_timeout=busy_timeout) as hdb:
            hdb.record(document, input_path=None if path == "-" else os.path.realpath(path))
        return True
    except HistoryError as exc:
        warn(f"not recorded: {exc}")
        return False
