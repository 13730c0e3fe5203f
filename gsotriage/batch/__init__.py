"""Bulk triage: many inputs in parallel worker processes, JSON Lines results, regressions.

One module per job: ``discover`` (paths -> inputs), ``keys`` (resume keys), ``runner`` (worker
processes with timeouts and a memory guard), ``worker`` (the child side), ``jsonl`` (streamed
results), ``pipeline`` (batch = runner + results + history), ``summary``, ``regress`` + ``junit``
(golden expectations). The click commands are in gsotriage.cli.batch; nothing here knows click.
"""
