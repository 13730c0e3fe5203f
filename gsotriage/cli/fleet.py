"""``gsotriage worker`` and ``gsotriage submit``: triage a fleet's crash stream on Celery workers."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, Optional, Sequence

import click

from gsotriage.errors import FLEET_EXITS, FleetExit

from .batch import db_path
from .common import DEBUGINFO_OPTION, SIG_OPTION, add_exit_help, err, guard, library, write

__all__ = ["submit", "worker"]

_NEEDS_EXTRA = "the fleet needs Celery, redis and psycopg: pip install 'gsotriage[fleet]'"

BROKER_OPTION = click.option(
    "--broker",
    envvar="GSOTRIAGE_BROKER",
    required=True,
    metavar="URL",
    help="Celery broker: redis://HOST:PORT/0 or amqp://USER:PASS@HOST// ($GSOTRIAGE_BROKER).",
)
FLEET_DB_OPTION = click.option(
    "--db",
    metavar="URL|PATH",
    help="History database: postgresql://USER@HOST:PORT/DB for a fleet (default: $GSOTRIAGE_DB, "
    "else the local SQLite file).",
)
SHARDS_OPTION = click.option(
    "--shards",
    envvar="GSOTRIAGE_SHARDS",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Shard queues dumps are spread over by kernel build; the same on every worker and submitter.",
)
RESULT_BACKEND_OPTION = click.option(
    "--result-backend",
    metavar="URL",
    help="Where task results go (read by submit --wait); default: the broker's Redis, rpc:// on RabbitMQ.",
)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _require_fleet() -> None:
    try:
        import celery  # noqa: F401
    except ImportError:
        err(_NEEDS_EXTRA)
        sys.exit(FleetExit.USAGE)


@click.command()
@BROKER_OPTION
@FLEET_DB_OPTION
@click.option("-c", "--concurrency", type=click.IntRange(min=1), help="Tasks at once (default: the CPUs available).")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, help="Seconds per input.")
@click.option(
    "--memory-limit", type=click.IntRange(min=16), help="MB of RSS per analysis; past it the analysis is killed."
)
@click.option(
    "-Q",
    "--queues",
    multiple=True,
    metavar="LIST",
    help="Queues to consume: 'general', shard numbers, 'all' (comma-separated, repeatable; default: all).",
)
@SHARDS_OPTION
@DEBUGINFO_OPTION
@SIG_OPTION
@click.option("-n", "--name", help="Worker name (default: gsotriage-PID@HOST).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Serve Prometheus metrics on this port.")
@click.option("--metrics-addr", default="0.0.0.0", show_default=True, help="Address for --metrics-port.")  # noqa: S104
@click.option(
    "--db-wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the database at start.",
)
@click.option(
    "--broker-wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the broker at start.",
)
@RESULT_BACKEND_OPTION
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@guard
def worker(
    broker: str,
    db: Optional[str],
    concurrency: Optional[int],
    timeout: float,
    memory_limit: Optional[int],
    queues: Sequence[str],
    shards: int,
    debuginfo: Sequence[str],
    sig_paths: Sequence[str],
    name: Optional[str],
    metrics_port: Optional[int],
    metrics_addr: str,
    db_wait: float,
    broker_wait: float,
    result_backend: Optional[str],
    log_level: str,
) -> None:
    """Run a fleet worker: take inputs from the queues, analyse each in a child process, record it.

    \b
    Each task runs the analysis `batch` runs, in a child process under --timeout
    and --memory-limit (a drgn crash or a timeout costs the task, not the
    worker), then upserts the result into the history database, keyed by the
    input: a task delivered twice updates its row. Messages are acknowledged
    after recording; the tasks of a worker killed mid-task are delivered again
    (on Redis after 2 x --timeout + 60 s). Logs are JSON lines on stderr.

    \b
    Examples:
      gsotriage worker --broker redis://queue:6379/0 --db postgresql://triage@db:5432/triage \\
          --concurrency 4 --timeout 300 --debuginfo /srv/debuginfo --metrics-port 9808
      gsotriage worker --broker redis://queue:6379/0 --db postgresql://triage@db/triage --queues general,0,1
    """
    _require_fleet()
    from gsotriage.fleet.config import FleetConfig
    from gsotriage.fleet.routing import parse_queues
    from gsotriage.fleet.worker import FleetError, WorkerOptions, run_worker

    try:
        fleet = FleetConfig(broker, result_backend, shards, timeout)
        fleet.kind  # noqa: B018 - validates the broker URL
        parse_queues(queues, shards)
    except ValueError as exc:
        err(str(exc))
        sys.exit(FleetExit.USAGE)
    lib = library(sig_paths)
    opts = WorkerOptions(
        fleet=fleet,
        db=db_path(db),
        concurrency=concurrency or _cpus(),
        queues=tuple(queues),
        memory_limit_mb=memory_limit,
        sig_paths=tuple(sig_paths),
        debuginfo=tuple(os.path.abspath(d) for d in debuginfo),
        library_digest=lib.digest,
        name=name,
        metrics_port=metrics_port,
        metrics_addr=metrics_addr,
        db_wait=db_wait,
        broker_wait=broker_wait,
        log_level=log_level,
    )
    try:
        code = run_worker(opts)
    except FleetError as exc:
        err(str(exc))
        sys.exit(exc.code)
    sys.exit(code)


add_exit_help(worker, FLEET_EXITS)


@click.command()
@click.argument("paths", nargs=-1)
@BROKER_OPTION
@FLEET_DB_OPTION
@click.option("--wait", is_flag=True, help="Wait until every input is analysed and recorded; exit like batch.")
@click.option("--priority", "urgent", is_flag=True, help="Ahead of the queued work (a fresh production crash).")
@DEBUGINFO_OPTION
@click.option("--hash", "content_hash", is_flag=True, help="Key inputs by sha256 of their content, not path+stat.")
@SHARDS_OPTION
@RESULT_BACKEND_OPTION
@click.option("--wait-timeout", type=click.FloatRange(min=1), help="Give up waiting after S seconds (exit 1).")
@click.option(
    "--broker-wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the broker (and the database) at start.",
)
@click.option("--watch", "watch_dirs", multiple=True, type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="Keep submitting new crashes that appear in DIR (repeatable).")  # fmt: skip
@click.option("--once", is_flag=True, help="With --watch: one pass, then exit (a boot-time unit).")
@click.option("--settle", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="With --watch: seconds a crash must be unchanged before it is submitted.")  # fmt: skip
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="With --watch: seconds between scans.")  # fmt: skip
@click.option("--state", type=click.Path(dir_okay=False), help="With --watch: file remembering what was submitted.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress on stderr.")
@guard
def submit(
    paths: Sequence[str],
    broker: str,
    db: Optional[str],
    wait: bool,
    urgent: bool,
    debuginfo: Sequence[str],
    content_hash: bool,
    shards: int,
    result_backend: Optional[str],
    wait_timeout: Optional[float],
    broker_wait: float,
    watch_dirs: Sequence[str],
    once: bool,
    settle: float,
    interval: float,
    state: Optional[str],
    fmt: str,
    no_progress: bool,
) -> None:
    """Queue inputs for the fleet's workers, routed by kernel build; --wait follows them.

    \b
    PATHS are files, crash directories, directories (walked) and globs, on
    storage the workers share (absolute paths are sent; s3:// URLs are not
    supported yet, see docs/fleet.md). A dump goes to the shard queue of its
    kernel build-id (read from VMCOREINFO, a few KB); text logs go to the
    general queue. Submitting the same files again updates their history
    rows, never adds rows.

    \b
    Examples:
      gsotriage submit /srv/crash/host42/2026-11-26-03:01/ --broker redis://queue:6379/0 \\
          --db postgresql://triage@db:5432/triage --wait
      gsotriage submit --watch /srv/crash --broker redis://queue:6379/0     # a collecting share
    """
    _require_fleet()
    from gsotriage.batch.discover import discover
    from gsotriage.batch.progress import make_progress
    from gsotriage.batch.summary import render_summary_text
    from gsotriage.fleet.config import FleetConfig
    from gsotriage.fleet.submit import SubmitOptions
    from gsotriage.fleet.submit import submit as run_submit
    from gsotriage.fleet.worker import FleetError

    try:
        fleet = FleetConfig(broker, result_backend, shards)
        fleet.kind  # noqa: B018 - validates the broker URL
    except ValueError as exc:
        err(str(exc))
        sys.exit(FleetExit.USAGE)
    if watch_dirs:
        if paths or wait:
            err("--watch takes no PATHS and no --wait")
            sys.exit(FleetExit.USAGE)
        _watch(fleet, watch_dirs, debuginfo, content_hash, urgent, once, settle, interval, state, broker_wait)
        return
    urls = [p for p in paths if "://" in p]
    if urls:
        err(f"{urls[0]}: URL inputs (s3:// ...) are not supported yet: submit paths the workers share (docs/fleet.md)")
        sys.exit(FleetExit.USAGE)
    found = discover(paths)
    for miss in found.missing:
        err(f"{miss}: no such file, directory or matching glob")
    if not found.inputs:
        err("no inputs found" + (f" ({found.skipped} file(s) skipped as not crash inputs)" if found.skipped else ""))
        sys.exit(FleetExit.USAGE)
    opts = SubmitOptions(
        fleet=fleet,
        db=db_path(db) if (db or wait) else None,
        wait=wait,
        urgent=urgent,
        debuginfo=tuple(debuginfo),
        content_hash=content_hash,
        wait_timeout=wait_timeout,
        broker_wait=broker_wait,
    )
    progress = make_progress(wait and not no_progress)
    try:
        report = run_submit(found.inputs, opts, progress)
    except FleetError as exc:
        err(str(exc))
        sys.exit(exc.code)
    except KeyboardInterrupt:
        err("interrupted; what was queued stays queued")
        sys.exit(FleetExit.INTERRUPTED)
    queues: Dict[str, int] = {}
    for s in report.submitted:
        queues[s.route.queue] = queues.get(s.route.queue, 0) + 1
    if fmt == "json":
        doc: Dict[str, Any] = {
            "submitted": [
                {"input": s.path, "task_id": s.task_id, "queue": s.route.queue, "build": s.route.build}
                for s in report.submitted
            ],
            "queues": queues,
        }
        if report.summary is not None:
            doc["summary"] = report.summary.to_dict()
            doc["unconfirmed"] = report.unconfirmed
        write(None, json.dumps(doc, indent=2) + "\n")
    else:
        text = f"queued {len(report.submitted)} input(s): " + ", ".join(f"{q} {n}" for q, n in sorted(queues.items()))
        if report.summary is not None:
            text += "\n" + render_summary_text(report.summary)
        write(None, text + ("" if text.endswith("\n") else "\n"))
    if report.unconfirmed:
        err(f"{report.unconfirmed} result(s) reported recorded are missing from the history database")
    sys.exit(FleetExit.SOME_FAILED if report.failed else FleetExit.OK)


def _watch(
    fleet: Any,
    dirs: Sequence[str],
    debuginfo: Sequence[str],
    content_hash: bool,
    urgent: bool,
    once: bool,
    settle: float,
    interval: float,
    state: Optional[str],
    broker_wait: float,
) -> None:
    from pathlib import Path

    from gsotriage.fleet.app import make_app
    from gsotriage.fleet.submit import SubmitOptions, enqueue
    from gsotriage.fleet.watch import Watcher
    from gsotriage.fleet.worker import FleetError, check_broker

    opts = SubmitOptions(
        fleet=fleet, debuginfo=tuple(debuginfo), content_hash=content_hash, urgent=urgent, broker_wait=broker_wait
    )
    app = make_app(fleet)
    try:
        check_broker(app, opts.broker_wait)
    except FleetError as exc:
        err(str(exc))
        sys.exit(exc.code)

    def send(found: list) -> None:
        for s in enqueue(app, found, opts):
            click.echo(f"queued {s.path} -> {s.route.queue}" + (f" ({s.route.build})" if s.route.build else ""))

    watcher = Watcher(
        dirs,
        send,
        settle=settle,
        state=Path(state) if state else None,
        note=lambda msg: click.echo(f"gsotriage: {msg}", err=True),
    )
    try:
        if once:
            watcher.scan()
        else:
            watcher.run(interval)
    except KeyboardInterrupt:
        sys.exit(FleetExit.INTERRUPTED)
    except Exception as exc:  # the broker went away during a --once pass: nothing is marked submitted
        err(f"broker {fleet.broker}: {' '.join(str(exc).split())}")
        sys.exit(FleetExit.UNAVAILABLE)
    sys.exit(FleetExit.OK)


add_exit_help(submit, FLEET_EXITS)
