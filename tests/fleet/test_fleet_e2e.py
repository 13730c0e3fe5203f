"""The fleet end to end, on real services: redis-server and PostgreSQL on loopback, worker and
submit processes, real inputs (the signature cases' public logs, factory dumps when built).

- 2 workers x 3 shards, 200 inputs, one worker killed with SIGKILL mid-run: every input ends
  up exactly once in PostgreSQL, its root cause the one ``gsotriage batch`` names, and
  ``history`` over PostgreSQL prints what it prints over the batch's SQLite;
- submitting the same files again updates their rows and adds none;
- the broker restarts mid-run: nothing is lost;
- a database unreachable at start: one line, non-zero, within 30 s;
- two workers starting at once on an empty database both come up.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from gsotriage.analysis.document import compact_document
from tests.batch.helpers import make_corpus, read_jsonl
from tests.fleet.helpers import (
    copy_dumps,
    debuginfo_dirs,
    factory_dumps,
    popen_submit,
    run_gsotriage,
    run_submit,
    wait_until,
)
from tests.fleet.services import free_port

pytestmark = pytest.mark.services

SHARDS = ("--shards", "3")


def _rows(postgres, url):
    return postgres.query(url, "SELECT COUNT(*), COUNT(DISTINCT input_key), COUNT(DISTINCT input_path) FROM analyses")[
        0
    ]


def _without_times(doc):
    """A history document with its timestamps (first/last seen) dropped."""
    text = json.dumps(doc, sort_keys=True)
    return json.loads(re.sub(r'"(first_seen|last_seen)": "[^"]*"', r'"\1": null', text))


def _in_flight(worker, among):
    """The input the worker has started and not finished (one of ``among`` when given), or None."""
    events = [e for e in worker.events() if e.get("msg") in ("analysing", "analysed")]
    if not events or events[-1]["msg"] != "analysing":
        return None
    path = events[-1]["input"]
    return path if not among or path in among else None


def test_two_workers_three_shards_200_inputs_one_killed_every_input_once(
    tmp_path, postgres, pg_db, redis_server, start_worker
):
    dumps = copy_dumps(tmp_path / "dumps", factory_dumps()[:6])  # empty when the factory dumps are not built
    texts = [str(p) for p in make_corpus(tmp_path / "texts", 200 - len(dumps))]
    inputs = sorted(dumps) + texts
    assert len(inputs) == 200
    debuginfo = [a for d in debuginfo_dirs() for a in ("--debuginfo", d)]
    common = ("--concurrency", "1", "--timeout", "30", *SHARDS, *debuginfo)
    metrics_port = free_port()
    # Per-build profiles off, here and for batch below: a dump analysed from a profile carries
    # other notes than one analysed from DWARF, and which comes first differs between the two.
    dwarf = {"GSOTRIAGE_PROFILES": "0"}
    a = start_worker("a", redis_server.url, pg_db, *common, env=dwarf)
    b = start_worker("b", redis_server.url, pg_db, *common, "--metrics-port", str(metrics_port), env=dwarf)
    a.wait_ready()
    b.wait_ready()
    t0 = time.monotonic()
    sub = popen_submit(tmp_path, *inputs, "--broker", redis_server.url, "--db", pg_db, "--wait", *SHARDS)
    try:
        if not dumps:
            wait_until(lambda: _rows(postgres, pg_db)[0] >= 40, 300, "40 recorded inputs")
        # Dumps (a second each, consumed first from their shard queues) make "mid-task" likely.
        wait_until(
            lambda: len(a.events("analysed")) >= 3 and _in_flight(a, dumps) is not None,
            300,
            "worker a in the middle of a task, after some",
            every=0.01,
        )
        a.kill9()  # a node dies: the worker and its analysis process, mid-task
        victim = _in_flight(a, {})
        out, err = sub.communicate(timeout=600)
        # Redelivery is what finishes the killed task: on Redis once its visibility timeout passed.
        wait_until(lambda: redis_server.client().hlen("unacked") == 0, 300, "no unacknowledged message left")
    finally:
        if sub.poll() is None:
            sub.kill()
        a.stop()
    assert sub.returncode == 0, err
    assert "200 inputs: 200 analysed" in out
    assert time.monotonic() - t0 < 600  # "within minutes", not Celery's one-hour visibility timeout
    assert _rows(postgres, pg_db) == (200, 200, 200)  # every input exactly once
    paths = {r[0] for r in postgres.query(pg_db, "SELECT input_path FROM analyses")}
    assert paths == set(inputs)
    origins = {r[0].rsplit(":", 1)[1] for r in postgres.query(pg_db, "SELECT origin FROM analyses")}
    assert origins == {"a@test", "b@test"}
    redelivered = [e["input"] for e in b.events("analysed") if e.get("redelivered")]
    assert redelivered, "the killed worker's task was not redelivered"
    if victim is not None:  # the input a was analysing when killed
        assert victim in redelivered

    # Metrics of the surviving worker.
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert re.search(r'^gsotriage_tasks_total\{status="ok"\} [1-9]', metrics, re.M)
    assert re.search(r"^gsotriage_queue_latency_seconds_count\{queue=\"gsotriage.general\"\} [1-9]", metrics, re.M)
    assert "gsotriage_verdicts_total{root_cause=" in metrics and "gsotriage_analysis_seconds_bucket" in metrics
    if dumps:
        assert re.search(r"^gsotriage_build_loads_total [1-9]", metrics, re.M)

    # The same documents and root causes as `gsotriage batch` over the same files.
    p = run_gsotriage(tmp_path, "batch", *inputs, "-o", "batch.jsonl", "--db", str(tmp_path / "b.sqlite3"), "-j", "2",
                      *debuginfo, env=dwarf)  # fmt: skip
    assert p.returncode == 0, p.stderr
    batch = {  # the history keeps the compact form of the document batch writes
        x["batch"]["input"]: compact_document({k: v for k, v in x.items() if k != "batch"})
        for x in read_jsonl(tmp_path / "batch.jsonl")
    }
    rows = postgres.query(pg_db, "SELECT input_path, root_cause, document FROM analyses")
    for path, root_cause, document in rows:
        assert root_cause == batch[path]["summary"]["root_cause"], path
        assert json.loads(document) == batch[path], path
    pg_history = run_gsotriage(tmp_path, "history", "--db", pg_db, "--format", "json")
    sqlite_history = run_gsotriage(tmp_path, "history", "--db", str(tmp_path / "b.sqlite3"), "--format", "json")
    assert pg_history.returncode == sqlite_history.returncode == 0, pg_history.stderr + sqlite_history.stderr
    assert _without_times(json.loads(pg_history.stdout)) == _without_times(json.loads(sqlite_history.stdout))

    # Submitting the same files again updates their rows, never adds rows.
    before = dict(postgres.query(pg_db, "SELECT input_key, recorded_at FROM analyses"))
    ids = postgres.query(pg_db, "SELECT MIN(id), MAX(id) FROM analyses")[0]
    p = run_submit(tmp_path, *inputs, "--broker", redis_server.url, "--db", pg_db, "--wait", *SHARDS, timeout=600)
    b.stop()
    assert p.returncode == 0, p.stderr
    after = dict(postgres.query(pg_db, "SELECT input_key, recorded_at FROM analyses"))
    assert set(after) == set(before) and all(after[k] > before[k] for k in before)
    assert postgres.query(pg_db, "SELECT MIN(id), MAX(id) FROM analyses")[0] == ids


def test_a_broker_restart_mid_run_loses_nothing(tmp_path, postgres, pg_db, redis_server, start_worker):
    inputs = [str(p) for p in make_corpus(tmp_path / "in", 80)]
    w = start_worker("w", redis_server.url, pg_db, "--concurrency", "2", "--timeout", "10", *SHARDS)
    w.wait_ready()
    sub = popen_submit(tmp_path, *inputs, "--broker", redis_server.url, "--db", pg_db, "--wait", *SHARDS)
    try:
        wait_until(lambda: _rows(postgres, pg_db)[0] >= 15, 120, "15 recorded inputs")
        redis_server.restart(down_for=2.0)
        out, err = sub.communicate(timeout=400)
        assert w.proc.poll() is None, "the worker died with the broker:\n" + w.text()
    finally:
        if sub.poll() is None:
            sub.kill()
        w.stop()
    assert sub.returncode == 0, err
    assert "80 inputs: 80 analysed" in out
    assert _rows(postgres, pg_db) == (80, 80, 80)
    assert any("Connection" in e.get("msg", "") or e.get("level") == "error" for e in w.events()), "no outage seen"
    # A result stored during the outage waited for Redis rather than failing the task outside its body.
    assert not [e for e in w.events() if "outside body" in e.get("msg", "")]


def test_a_database_unreachable_at_start_is_one_line_and_a_nonzero_exit_within_30s(tmp_path, postgres, redis_server):
    closed = f"postgresql://gsotriage@127.0.0.1:{free_port()}/triage"
    missing = postgres.url("no_such_database")
    for url, why in ((closed, "Connection refused"), (missing, 'database "no_such_database" does not exist')):
        t0 = time.monotonic()
        p = run_gsotriage(tmp_path, "worker", "--broker", redis_server.url, "--db", url, "--timeout", "30", timeout=60)
        assert time.monotonic() - t0 < 30
        assert p.returncode == 3, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        assert url in lines[0] and why in lines[0] and lines[0].startswith("gsotriage: error: ")
    p = run_gsotriage(tmp_path, "submit", __file__, "--broker", redis_server.url, "--db", closed, "--wait", timeout=60)
    assert p.returncode == 3 and "Connection refused" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_broker_unreachable_at_start_is_one_line(tmp_path, pg_db):
    broker = f"redis://127.0.0.1:{free_port()}/0"
    t0 = time.monotonic()
    p = run_gsotriage(tmp_path, "worker", "--broker", broker, "--db", pg_db, "--broker-wait", "2", timeout=60)
    assert time.monotonic() - t0 < 30
    assert p.returncode == 3 and f"broker {broker} unreachable" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_two_workers_starting_at_once_on_an_empty_database_both_come_up(
    tmp_path, postgres, pg_db, redis_server, start_worker
):
    workers = [start_worker(n, redis_server.url, pg_db, "--concurrency", "1", *SHARDS) for n in ("x", "y")]
    try:
        for w in workers:
            w.wait_ready()
        assert postgres.query(pg_db, "SELECT version FROM history_schema") == [(3,)]
        p = run_submit(tmp_path, *[str(p) for p in make_corpus(tmp_path / "in", 6)], "--broker", redis_server.url,
                       "--db", pg_db, "--wait", *SHARDS, timeout=120)  # fmt: skip
        assert p.returncode == 0, p.stderr
    finally:
        for w in workers:
            w.stop()
    assert _rows(postgres, pg_db) == (6, 6, 6)


def test_submit_without_inputs_or_with_a_bad_broker_url_is_a_usage_error(tmp_path):
    p = run_gsotriage(tmp_path, "submit", str(tmp_path / "nothing-here"), "--broker", "redis://127.0.0.1:1/0")
    assert p.returncode == 2 and "no inputs found" in p.stderr
    p = run_gsotriage(tmp_path, "submit", "s3://crash/host42/vmcore", "--broker", "redis://127.0.0.1:1/0")
    assert p.returncode == 2 and "not supported yet" in p.stderr
    p = run_gsotriage(tmp_path, "submit", __file__, "--broker", "kafka://x:1")
    assert p.returncode == 2 and "unsupported broker URL scheme 'kafka'" in p.stderr
    p = run_gsotriage(tmp_path, "worker", "--broker", "redis://127.0.0.1:1/0", "--queues", "general,7", *SHARDS)
    assert p.returncode == 2 and "unknown queue '7'" in p.stderr


def test_rabbitmq_through_the_url(tmp_path, postgres, pg_db, start_worker):
    """The same fleet on RabbitMQ (queues with x-max-priority, results over rpc://); optional:
    runs where the distro's rabbitmq-server is installed."""
    from tests.fleet.services import RABBITMQ_SERVER, RabbitServer

    if not RABBITMQ_SERVER.exists():
        pytest.skip("rabbitmq-server not installed (optional: the fleet's CI broker is Redis)")
    rabbit = RabbitServer()
    rabbit.start()
    try:
        inputs = [str(p) for p in make_corpus(tmp_path / "in", 20)]
        start_worker("r", rabbit.url, pg_db, "--concurrency", "2", *SHARDS).wait_ready()
        p = run_submit(tmp_path, *inputs, "--broker", rabbit.url, "--db", pg_db, "--wait", "--priority", *SHARDS)
        assert p.returncode == 0, p.stderr
        assert "20 inputs: 20 analysed" in p.stdout
        assert _rows(postgres, pg_db) == (20, 20, 20)
    finally:
        rabbit.stop()


def test_a_database_outage_mid_run_is_waited_out(tmp_path, redis_server, start_worker):
    """PostgreSQL stops for a few seconds mid-run: the rows are written once it is back (the
    worker retries with backoff), each input once."""
    from tests.fleet.services import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        db = server.create_database("outage")
        inputs = [str(p) for p in make_corpus(tmp_path / "in", 60)]
        worker = start_worker("o", redis_server.url, db, "--concurrency", "2", *SHARDS)
        worker.wait_ready()
        sub = popen_submit(tmp_path, *inputs, "--broker", redis_server.url, "--db", db, "--wait", *SHARDS)
        try:
            wait_until(lambda: _rows(server, db)[0] >= 8, 120, "8 recorded inputs")
            assert _rows(server, db)[0] < 30  # the outage falls mid-run
            server.stop()
            time.sleep(5)
            server.start()
            out, err = sub.communicate(timeout=300)
        finally:
            if sub.poll() is None:
                sub.kill()
        assert sub.returncode == 0, err
        assert "60 inputs: 60 analysed" in out
        assert _rows(server, db) == (60, 60, 60)
        assert worker.events("history database unavailable; retrying"), "the outage was not seen"
    finally:
        server.remove()
