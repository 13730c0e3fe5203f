"""Structured logs: one JSON object per line on stderr, for a log pipeline to index.

Every record has ``ts`` (UTC ISO 8601), ``level``, ``logger`` and ``msg``; a task's records
add its fields (``input``, ``key``, ``status``, ``queue``, ``seconds``, ``root_cause``, ...)
given as ``extra={"fields": {...}}``. Celery's own loggers go through the same handler.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Dict, Optional, TextIO

__all__ = ["JsonFormatter", "configure_json_logging", "log_event"]

LOGGER = "gsotriage.fleet"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: Dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = self.formatException(record.exc_info)  # one JSON string, newlines escaped
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_json_logging(level: str = "info", stream: Optional[TextIO] = None) -> None:
    """Route every logger (ours, Celery's, Python warnings) to one JSON handler; Celery is told
    logging is configured (its ``setup_logging`` signal has a receiver) and its per-task
    "succeeded" line is dropped below warnings: our ``analysed`` record says it, structured."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    logging.getLogger("celery.app.trace").setLevel(max(logging.WARNING, root.level))
    try:
        from celery.signals import setup_logging
    except ImportError:  # pragma: no cover - the fleet extra is missing; nothing to tell
        return
    setup_logging.connect(_configured, weak=False)


def _configured(**_: Any) -> None:
    """Receiver of Celery's ``setup_logging``: logging is already configured."""


def log_event(msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, msg, extra={"fields": fields})
