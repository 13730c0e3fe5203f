"""Bulk triage: many inputs in parallel worker processes, JSON Lines results, regressions, crash history.

One module per job: ``discover`` (paths -> inputs), ``keys`` (resume keys), ``runner`` (worker
processes with timeouts and a memory guard), ``jsonl`` (streamed results), ``summary``,
``regress`` + ``junit`` (golden expectations), ``history`` (SQLite database). ``commands`` holds
the click commands that gsotriage.cli registers; nothing else here knows of click.
"""
