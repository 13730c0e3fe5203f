"""``gsotriage history``: recorded crashes over a time window."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import click

from gsotriage.errors import Exit

from .batch import DB_OPTION, db_path
from .common import err, guard, write

__all__ = ["history"]


@click.command()
@click.option("--since", help="Start of the window: a duration back from now (7d, 12h, 30m, 2w) or a date.")
@click.option("--until", help="End of the window (exclusive), same forms as --since.")
@click.option("--kernel", help="Only kernel releases matching this regular expression.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@DB_OPTION
@guard
def history(
    since: Optional[str],
    until: Optional[str],
    kernel: Optional[str],
    fmt: str,
    output: Optional[str],
    db: Optional[str],
) -> None:
    """Recorded crashes over a time window: top root causes, per kernel release, unknown buckets.

    \b
    Examples:
      gsotriage history --since 7d
      gsotriage history --since 2026-11-01 --until 2026-12-01 --kernel '^6\\.1\\.' --format json
      gsotriage history --db postgresql://gsotriage@db.example:5432/triage --since 1d
    """
    import re

    from gsotriage.history import HistoryDB, HistoryError, is_url, query_history, render_history_text

    try:
        lo = parse_opt(since)
        hi = parse_opt(until)
        if kernel is not None:
            re.compile(kernel)
    except (ValueError, re.error) as exc:
        err(f"bad option: {exc}")
        sys.exit(Exit.USAGE)
    path = db_path(db)
    if not is_url(path) and not Path(path).exists():
        err(f"no history database at {path} (record with 'gsotriage batch' or 'analyze --record')")
        sys.exit(Exit.BAD_INPUT)
    try:
        with HistoryDB(path) as hdb:
            rep = query_history(hdb, since=lo, until=hi, kernel=kernel)
    except HistoryError as exc:
        err(str(exc))
        sys.exit(Exit.BAD_INPUT)
    text = json.dumps(rep.to_dict(), indent=2) + "\n" if fmt == "json" else render_history_text(rep)
    write(output, text)


def parse_opt(text: Optional[str]) -> Any:
    from gsotriage.history import parse_when

    return parse_when(text) if text else None
