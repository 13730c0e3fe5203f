"""``gsotriage batch`` and ``gsotriage regress``: many inputs, in worker processes."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import click

from gsotriage.errors import BATCH_EXITS, REGRESS_EXITS, BatchExit, RegressExit

from .common import DEBUGINFO_OPTION, SIG_OPTION, add_exit_help, err, guard, library, write

__all__ = ["DB_OPTION", "batch", "db_path", "regress"]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def db_path(db: Optional[str]) -> str:
    """The history database: ``--db`` (an SQLite path or a postgresql:// URL), else the default file."""
    from gsotriage.history import default_db

    return db or default_db()


DB_OPTION = click.option(
    "--db",
    metavar="PATH|URL",
    help="History database: an SQLite file, or postgresql://USER@HOST:PORT/DB "
    "(default: $GSOTRIAGE_DB or $XDG_DATA_HOME/gsotriage/history.sqlite3).",
)
DB_TIMEOUT_OPTION = click.option(
    "--db-timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to wait for a locked history database before giving up on that record.",
)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", default="results.jsonl", show_default=True, help="JSON Lines results (appended).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: the CPUs available).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True, help="Seconds per input.")
@click.option("--memory-limit", type=click.IntRange(min=16), help="MB of RSS per worker; a worker past it is killed.")
@DEBUGINFO_OPTION
@click.option("--vmlinux", type=click.Path(exists=True, dir_okay=False), help="vmlinux for every dump in the batch.")
@click.option("--resume", is_flag=True, help="Skip inputs already in --output (same file, tool and signatures).")
@click.option(
    "--retry",
    "retry",
    multiple=True,
    type=click.Choice(["degraded", "input-error"]),
    help="With --resume, also analyse again the results that are degraded (hit a bound) or input errors.",
)
@click.option("--hash", "content_hash", is_flag=True, help="Key inputs by sha256 of their content, not path+stat.")
@click.option("--record/--no-record", default=True, show_default=True, help="Record results in the history database.")
@DB_OPTION
@DB_TIMEOUT_OPTION
@SIG_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress on stderr.")
@guard
def batch(
    paths: Sequence[str],
    output: str,
    jobs: Optional[int],
    timeout: float,
    memory_limit: Optional[int],
    debuginfo: Sequence[str],
    vmlinux: Optional[str],
    resume: bool,
    retry: Sequence[str],
    content_hash: bool,
    record: bool,
    db: Optional[str],
    db_timeout: float,
    sig_paths: Sequence[str],
    fmt: str,
    no_progress: bool,
) -> None:
    """Analyse many inputs in parallel; results to JSON Lines, a summary table at the end.

    \b
    PATHS are files, directories (walked; a kdump crash directory is one input)
    and globs (quoted globs are expanded too). Each input runs in a worker
    process under --timeout and --memory-limit; a bad input becomes a result
    line with its status (input-error, timeout, oom, crashed, internal-error)
    and the batch goes on. Each finished input is one line of --output, written
    and fsynced at once: the analyze --format json document plus a "batch"
    envelope. --resume skips inputs already done (timeouts, oom, crashes and
    internal errors are tried again; --retry degraded also redoes results that
    hit a bound, marked "degraded": true in the envelope).

    \b
    Examples:
      gsotriage batch /var/crash/ 'logs/**/*.txt' -o triage.jsonl
      gsotriage batch dumps/ --debuginfo /usr/lib/debug --jobs 4 --timeout 600 --memory-limit 4096
      gsotriage batch dumps/ -o triage.jsonl --resume        # after a kill or a reboot
    """
    from gsotriage.batch.discover import discover
    from gsotriage.batch.pipeline import BatchOptions, Recorder, run_batch
    from gsotriage.batch.progress import make_progress
    from gsotriage.batch.runner import RunnerConfig
    from gsotriage.batch.summary import render_summary_text

    if retry and not resume:
        err("--retry needs --resume (it says which earlier results to analyse again)")
        sys.exit(BatchExit.USAGE)
    found = discover(paths, exclude=[output] if output != "-" else [])
    for miss in found.missing:
        err(f"{miss}: no such file, directory or matching glob")
    if not found.inputs:
        err("no inputs found" + (f" ({found.skipped} file(s) skipped as not crash inputs)" if found.skipped else ""))
        sys.exit(BatchExit.USAGE)
    lib = library(sig_paths)
    config = RunnerConfig(
        jobs=jobs or _cpus(),
        timeout=timeout,
        memory_limit_mb=memory_limit,
        sig_paths=tuple(sig_paths),
        debuginfo=tuple(debuginfo),
        vmlinux=vmlinux,
    )
    opts = BatchOptions(output, config, lib.digest, resume=resume, content_hash=content_hash, retry=tuple(retry))
    progress = make_progress(not no_progress)
    recorder = Recorder(db_path(db), db_timeout) if record else None
    _terminate_as_interrupt()
    try:
        result = run_batch(found.inputs, opts, progress, recorder)
    except KeyboardInterrupt:
        err(f"interrupted; finished results are in {output}; rerun with --resume to go on")
        sys.exit(BatchExit.INTERRUPTED)
    finally:
        if recorder is not None:
            recorder.close()
    summary = result.summary
    if fmt == "json":
        doc = summary.to_dict()
        doc.update({"output": output, "ran": result.ran, "skipped_inputs": found.skipped})
        text = json.dumps(doc, indent=2) + "\n"
    else:
        text = render_summary_text(summary, output=None if output == "-" else output)
    if output == "-":
        sys.stderr.write(text)
    else:
        write(None, text)
    sys.exit(BatchExit.SOME_FAILED if summary.failures else BatchExit.ALL_ANALYSED)


add_exit_help(batch, BATCH_EXITS)


def _terminate_as_interrupt() -> None:
    """SIGTERM and SIGHUP (systemd stop, a closed session) end a batch as Ctrl-C does: the
    workers are stopped, finished lines kept, exit 130. By default they killed the parent
    alone and left its workers running."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


@click.command()
@click.argument("expectations", type=click.Path(dir_okay=False))
@click.option("--junit", type=click.Path(dir_okay=False), help="Write JUnit XML (one testcase per entry).")
@click.option("--update", is_flag=True, help="Rewrite EXPECTATIONS from the current results (comments are lost).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: the CPUs available).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True, help="Seconds per input.")
@DEBUGINFO_OPTION
@SIG_OPTION
@guard
def regress(
    expectations: str,
    junit: Optional[str],
    update: bool,
    jobs: Optional[int],
    timeout: float,
    debuginfo: Sequence[str],
    sig_paths: Sequence[str],
) -> None:
    """Check a golden set of inputs against the root causes they are expected to get.

    \b
    EXPECTATIONS is a YAML list:
      - input: cases/seed.txt            # relative to the YAML file
        vmlinux: vmlinux-6.1.0-56        # optional, for dumps
        expect:
          root_cause: gso-tunnel-tcp-metadata-geometry-mismatch   # or null: no specific root cause
          status: match                  # optional: match | partial
    A regression is a different or missing root cause, or a status downgrade;
    an improvement is a specific root cause where none was expected, or an
    upgrade. --update rewrites the file from the current results (order and
    input paths kept; comments are not preserved).
    """
    from gsotriage.batch.junit import junit_xml
    from gsotriage.batch.regress import ExpectationsError, compare, dump_expectations, load_expectations
    from gsotriage.batch.runner import Outcome, RunnerConfig, Task, run_tasks

    try:
        entries = load_expectations(expectations)
    except ExpectationsError as exc:
        err(str(exc))
        sys.exit(RegressExit.USAGE)
    if not entries:
        err(f"{expectations}: no entries")
        sys.exit(RegressExit.USAGE)
    library(sig_paths)
    config = RunnerConfig(
        jobs=min(jobs or _cpus(), len(entries)),
        timeout=timeout,
        sig_paths=tuple(sig_paths),
        debuginfo=tuple(debuginfo),
    )
    outcomes: Dict[int, Outcome] = {}
    tasks = [Task(i, e.path, vmlinux=e.vmlinux_path) for i, e in enumerate(entries)]
    run_tasks(tasks, config, lambda o: outcomes.__setitem__(o.task.index, o))
    results = [compare(e, outcomes[i]) for i, e in enumerate(entries)]
    marks = {"match": "ok      ", "regression": "REGRESS ", "improvement": "IMPROVED", "error": "ERROR   "}
    for c in results:
        click.echo(f"{marks[c.outcome]} {c.entry.input}: {c.message}")
    count = {k: sum(c.outcome == k for c in results) for k in marks}
    click.echo(
        f"{len(results)} entries: {count['match']} as expected, {count['regression']} regression(s), "
        f"{count['improvement']} improvement(s), {count['error']} error(s)"
    )
    if junit:
        write(junit, junit_xml(results, suite=Path(expectations).name))
    if update:
        try:
            Path(expectations).write_text(dump_expectations(results), encoding="utf-8")
        except OSError as exc:
            err(f"cannot write {expectations}: {exc.strerror}")
            sys.exit(RegressExit.USAGE)
        click.echo(f"updated {expectations} from the current results (comments are not preserved)")
        sys.exit(RegressExit.ANALYSIS_ERRORS if count["error"] else RegressExit.NO_REGRESSION)
    if count["regression"]:
        sys.exit(RegressExit.REGRESSIONS)
    sys.exit(RegressExit.ANALYSIS_ERRORS if count["error"] else RegressExit.NO_REGRESSION)


add_exit_help(regress, REGRESS_EXITS)
