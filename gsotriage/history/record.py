"""Recording analyses: one for ``analyze --record``, and a retrying writer for batch and fleet."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Mapping, Optional

from .store import DEFAULT_BUSY_TIMEOUT, HistoryDB, HistoryError, default_db

__all__ = ["Backoff", "record_analysis", "record_with_retry"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts at a transient failure (locked, disconnected)."""

    first: float = 0.2
    factor: float = 2.0
    cap: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


def record_with_retry(
    db: HistoryDB,
    document: Mapping[str, Any],
    *,
    input_path: Optional[str],
    input_key: str,
    origin: Optional[str] = None,
    patience: float = 30.0,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Optional[Callable[[HistoryError, float], None]] = None,
) -> int:
    """Record (upsert) one analysis; a transient failure is tried again with backoff for up to
    ``patience`` seconds (``on_retry(error, delay)`` before each wait). Raises the last
    HistoryError when it gives up or on a permanent error."""
    deadline = time.monotonic() + patience
    delays = backoff.delays()
    while True:
        try:
            return db.record(document, input_path=input_path, input_key=input_key, origin=origin)
        except HistoryError as exc:
            if not exc.transient:
                raise
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)


def record_analysis(
    document: Dict[str, Any],
    path: str,
    db: Optional[str],
    *,
    warn: Callable[[str], None],
    input_key: Optional[str] = None,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> bool:
    """For ``analyze --record``: a failure to record is a warning (through ``warn``),
    never a change of verdict or exit code. Without ``input_key`` (standard input) the row
    is keyed by the document itself."""
    try:
        with HistoryDB(db or default_db(), busy_timeout=busy_timeout) as hdb:
            record_with_retry(
                hdb,
                document,
                input_path=None if path == "-" else os.path.realpath(path),
                input_key=input_key or "",
                origin="analyze",
                patience=busy_timeout,
            )
        return True
    except HistoryError as exc:
        warn(f"not recorded: {exc}")
        return False
