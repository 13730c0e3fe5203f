"""The crash history database (SQLite): migrations, one row per input key, concurrent writers,
window/kernel/bucket queries, the CLI, and how batch records (result line first, database
second, retried with backoff, completed by --resume). PostgreSQL: tests/fleet/test_history_postgres.py."""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from gsotriage.analysis import analyze_path
from gsotriage.batch.pipeline import Recorder
from gsotriage.history import HistoryDB, HistoryError, parse_when, query_history
from gsotriage.history.schema import SCHEMA_VERSION
from tests.batch.helpers import cli_env, make_corpus, read_jsonl, run_cli
from tests.conftest import CASES, SEED

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
V1_TABLE = (
    "CREATE TABLE analyses (id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at TEXT NOT NULL,"
    " input_path TEXT, kernel_release TEXT, root_cause TEXT, status TEXT, document TEXT NOT NULL)"
)

V2_COLUMNS = (  # as the second release added them
    ("input_key", "TEXT"),
    ("kernel_version", "TEXT"),
    ("score", "REAL"),
    ("specific", "INTEGER"),
    ("bucket", "TEXT"),
    ("panic_kind", "TEXT"),
    ("function", "TEXT"),
    ("tool_version", "TEXT"),
    ("signature_digest", "TEXT"),
)


@pytest.fixture(scope="module")
def docs(library):
    seed = analyze_path(str(SEED), library).document
    generic = next(
        d
        for d in (analyze_path(str(p), library).document for p in sorted(CASES.glob("*.txt")))
        if not d["summary"]["specific"]
    )
    return seed, generic


def _with_kernel(doc, release):
    d = copy.deepcopy(doc)
    d["report"]["kernel"]["release"] = release
    return d


def _rows(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*), COUNT(DISTINCT input_key) FROM analyses").fetchone()


def test_a_v1_database_migrates_without_losing_rows(tmp_path, docs):
    seed, generic = docs
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(V1_TABLE)  # the v1 schema, written out by hand as the first release created it
    for i, doc in enumerate([seed, generic, seed]):
        conn.execute(
            "INSERT INTO analyses (recorded_at, input_path, kernel_release, root_cause, status, document)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                f"2026-11-0{i + 1}T00:00:00.000000Z",
                f"/var/crash/{i}",
                doc["report"]["kernel"]["release"],
                doc["summary"]["root_cause"],
                doc["summary"]["status"],
                json.dumps(doc),
            ),
        )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with HistoryDB(path) as db:
        assert db.version == SCHEMA_VERSION == 3
        rows = db.query(
            "SELECT id, input_path, root_cause, specific, bucket, tool_version, signature_digest, input_key"
            " FROM analyses ORDER BY id"
        )
        assert [r[1] for r in rows] == ["/var/crash/0", "/var/crash/1", "/var/crash/2"]
        assert rows[0][2:4] == ("gso-tunnel-tcp-metadata-geometry-mismatch", 1)  # backfilled from the document
        assert rows[1][3] == 0 and rows[1][4] == generic["report"]["bucket"]
        assert all(r[5] and r[6] for r in rows)
        assert [r[7] for r in rows] == [f"row:{r[0]}" for r in rows]  # rows without a key keep their own
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"
        db.record(seed, input_path="/new", input_key="stat:new")
        assert db.count() == 4
    with HistoryDB(path) as db:  # opening again is a no-op
        assert db.count() == 4


def test_v3_keeps_the_newest_row_of_a_duplicated_key_and_enforces_one_row_per_key(tmp_path, docs):
    """v2 batches re-run without --resume recorded an input twice; v3 keeps its newest row."""
    seed, generic = docs
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(V1_TABLE)
    for name, sqltype in V2_COLUMNS:
        conn.execute(f"ALTER TABLE analyses ADD COLUMN {name} {sqltype}")
    for i, (doc, key) in enumerate([(seed, "k1"), (generic, "k2"), (generic, "k1"), (seed, None)]):
        conn.execute(
            "INSERT INTO analyses (recorded_at, input_path, root_cause, document, input_key) VALUES (?, ?, ?, ?, ?)",
            (f"2026-11-0{i + 1}T00:00:00.000000Z", f"/in/{i}", doc["summary"]["root_cause"], json.dumps(doc), key),
        )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with HistoryDB(path) as db:
        rows = db.query("SELECT id, input_key, input_path FROM analyses ORDER BY id")
        assert rows == [(2, "k2", "/in/1"), (3, "k1", "/in/2"), (4, "row:4", "/in/3")]
        db.record(seed, input_path="/again", input_key="k1")  # an upsert: same id, new content
        assert db.query("SELECT id, input_path, origin FROM analyses WHERE input_key = 'k1'") == [(3, "/again", None)]
        assert db.count() == 3
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO analyses (recorded_at, document, input_key) VALUES ('t', '{}', 'k1')")
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO analyses (recorded_at, document, input_key) VALUES ('t', '{}', NULL)")
    raw.close()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(HistoryError, match="newer than this gsotriage"):
        HistoryDB(path)


def test_without_a_key_the_document_is_the_key(tmp_path, docs):
    seed, generic = docs
    with HistoryDB(tmp_path / "h.sqlite3") as db:
        db.record(seed, input_path=None)
        db.record(seed, input_path=None)
        db.record(generic, input_path=None)
        keys = [r[0] for r in db.query("SELECT input_key FROM analyses ORDER BY id")]
    assert len(keys) == 2 and all(k.startswith("doc:") for k in keys)


def _writer(path: str, n: int, doc: dict, tag: str) -> None:
    with HistoryDB(path, busy_timeout=30) as db:
        for i in range(n):
            db.record(doc, input_path=f"/w{tag}/{i}", input_key=f"{tag}-{i}")


def test_concurrent_writers_in_several_processes(tmp_path, docs):
    """Four processes open a new database at once (one migrates it) and write; two of them write
    the same keys: still one row per key."""
    path = str(tmp_path / "h.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    tags = ["a", "b", "c", "c"]
    procs = [ctx.Process(target=_writer, args=(path, 40, docs[0], t)) for t in tags]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert _rows(path) == (120, 120)


@pytest.fixture()
def filled(tmp_path, docs):
    seed, generic = docs
    db = HistoryDB(tmp_path / "h.sqlite3")
    plan = [
        (seed, "6.1.0-56-cloud-amd64", 1),
        (seed, "6.1.0-56-cloud-amd64", 2),
        (seed, "4.18.0-553.el8", 20),
        (generic, "6.1.0-56-cloud-amd64", 3),
        (generic, "5.15.0-91-generic", 40),
    ]
    for i, (doc, rel, days_ago) in enumerate(plan):
        db.record(_with_kernel(doc, rel), input_path=rel, input_key=f"k{i}", recorded_at=NOW - timedelta(days=days_ago))
    yield db, seed, generic
    db.close()


def test_history_window_kernel_filter_and_buckets(filled):
    db, _seed, generic = filled
    rep = query_history(db)
    assert rep.total == 5
    (rc,) = rep.root_causes
    assert (rc.root_cause, rc.count) == ("gso-tunnel-tcp-metadata-geometry-mismatch", 3)
    assert rc.kernels == ("4.18.0-553.el8", "6.1.0-56-cloud-amd64")
    assert rc.first_seen.startswith("2026-11-06") and rc.last_seen.startswith("2026-11-25")
    (bucket,) = rep.buckets
    assert bucket.bucket == generic["report"]["bucket"] and bucket.count == 2
    k61 = next(k for k in rep.kernels if k.release == "6.1.0-56-cloud-amd64")
    assert (
        k61.count == 3 and k61.unknown == 1 and k61.root_causes == (("gso-tunnel-tcp-metadata-geometry-mismatch", 2),)
    )

    week = query_history(db, since=parse_when("7d", now=NOW))
    assert week.total == 3 and week.root_causes[0].count == 2
    old = query_history(db, until=parse_when("2026-11-10"))
    assert old.total == 2 and {k.release for k in old.kernels} == {"4.18.0-553.el8", "5.15.0-91-generic"}
    k61_only = query_history(db, kernel=r"^6\.1\.")
    assert k61_only.total == 3 and [k.release for k in k61_only.kernels] == ["6.1.0-56-cloud-amd64"]
    doc = k61_only.to_dict()
    assert doc["schema_version"] and doc["unknown_buckets"][0]["count"] == 1


def test_history_cli(tmp_path, filled):
    db = filled[0]
    p = run_cli(tmp_path, "history", "--db", str(db.path), "--format", "json", "--kernel", "el8")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema_version"] and doc["total"] == 1 and doc["window"]["kernel"] == "el8"
    p = run_cli(tmp_path, "history", "--db", str(db.path), "--since", "2026-11-01")
    assert p.returncode == 0 and "gso-tunnel-tcp-metadata-geometry-mismatch" in p.stdout
    assert "Per kernel release" in p.stdout and "Unknown crashes" in p.stdout
    p = run_cli(tmp_path, "history", "--db", str(db.path), "--since", "yesterday-ish")
    assert p.returncode == 2 and "neither a duration" in p.stderr
    p = run_cli(tmp_path, "history", "--db", str(tmp_path / "none.sqlite3"))
    assert p.returncode == 3 and "no history database" in p.stderr
    p = run_cli(tmp_path, "history", "--db", "mysql://nobody@localhost/x")
    assert p.returncode == 3 and "unsupported URL scheme 'mysql'" in p.stderr and "Traceback" not in p.stderr


def test_parse_when():
    assert parse_when("12h", now=NOW) == NOW - timedelta(hours=12)
    assert parse_when("2w", now=NOW) == NOW - timedelta(weeks=2)
    assert parse_when("2026-11-01") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_when("soon")


# --- how batch records ---------------------------------------------------------------------------


def test_analyze_record_and_batch_share_the_row_of_a_file(tmp_path):
    db = tmp_path / "h.sqlite3"
    (tmp_path / "in").mkdir()
    case = tmp_path / "in" / "seed.txt"
    case.write_bytes(SEED.read_bytes())
    p = run_cli(tmp_path, "analyze", str(case), "--record", "--db", str(db), "--format", "json")
    assert p.returncode == 0, p.stderr
    p = run_cli(tmp_path, "batch", "in", "-o", "r.jsonl", "--db", str(db), "-j", "1")
    assert p.returncode == 0, p.stderr
    (line,) = read_jsonl(tmp_path / "r.jsonl")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT input_key, origin FROM analyses").fetchall() == [(line["batch"]["key"], "batch")]


def test_running_a_batch_again_updates_rows_and_never_adds_any(tmp_path):
    make_corpus(tmp_path / "in", 12)
    db = tmp_path / "h.sqlite3"
    for _ in range(2):  # no --resume: every input is analysed and recorded again
        p = run_cli(tmp_path, "batch", "in", "-o", "r.jsonl", "--db", str(db), "-j", "2", "--format", "json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["not_recorded"] == 0
    assert len(read_jsonl(tmp_path / "r.jsonl")) == 24
    assert _rows(db) == (12, 12)


def _hold_lock(db, seconds, started):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    started.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def test_a_database_locked_for_a_while_is_retried_with_backoff(tmp_path):
    make_corpus(tmp_path / "in", 8)
    db = tmp_path / "h.sqlite3"
    HistoryDB(db).close()
    started = threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(db, 4.0, started))
    holder.start()
    started.wait(10)
    try:
        p = run_cli(tmp_path, "batch", "in", "-o", "r.jsonl", "--db", str(db), "--db-timeout", "0.5", "-j", "2")
    finally:
        holder.join()
    assert p.returncode == 0, p.stderr
    assert "could not be recorded" not in p.stdout and "not recorded" not in p.stderr
    assert _rows(db) == (8, 8)


def test_a_database_locked_all_along_is_reported_and_resume_records_it(tmp_path):
    db = tmp_path / "h.sqlite3"
    HistoryDB(db).close()
    make_corpus(tmp_path / "in", 3)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        p = run_cli(tmp_path, "batch", "in", "-o", "r.jsonl", "--db", str(db), "--db-timeout", "0.2", "-j", "1")
        assert time.monotonic() - t0 < 60
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert p.returncode == 0, p.stderr  # every input was analysed; only the recording failed
    lines = read_jsonl(tmp_path / "r.jsonl")
    assert len(lines) == 3 and all(x["batch"]["status"] == "ok" for x in lines)  # the lines came first
    assert "3 result(s) not recorded" in p.stderr and "locked" in p.stderr and "--resume" in p.stderr
    assert "3 result(s) could not be recorded" in p.stdout
    assert _rows(db) == (0, 0)
    p = run_cli(tmp_path, "batch", "in", "-o", "r.jsonl", "--db", str(db), "--resume", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert "recording 3 earlier result(s)" in p.stderr
    summary = json.loads(p.stdout)
    assert summary["ran"] == 0 and summary["resumed"] == 3 and summary["not_recorded"] == 0
    with sqlite3.connect(db) as conn:
        keys = {r[0] for r in conn.execute("SELECT input_key FROM analyses")}
    assert keys == {x["batch"]["key"] for x in lines}


def test_kill_9_between_line_and_row_then_resume_records_each_input_once(tmp_path):
    """A batch killed mid-run: every result line it wrote either has its row or gets it from
    --resume; no input is analysed twice and none has two rows."""
    make_corpus(tmp_path / "in", 80)
    out = tmp_path / "r.jsonl"
    db = tmp_path / "h.sqlite3"
    args = [sys.executable, "-m", "gsotriage", "batch", "in", "-o", str(out), "--jobs", "2", "--db", str(db)]
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out.exists() and out.read_bytes().count(b"\n") >= 15):
            assert proc.poll() is None, "the batch finished before it could be killed"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    written = len(read_jsonl(out))
    rows_before = _rows(db)[0] if db.exists() else 0
    assert rows_before <= written < 80  # never a row without its line
    p = run_cli(tmp_path, "batch", "in", "-o", str(out), "--jobs", "2", "--db", str(db), "--resume", "--format", "json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["resumed"] == written and summary["ran"] == 80 - written and summary["not_recorded"] == 0
    lines = read_jsonl(out)
    assert len(lines) == 80
    assert _rows(db) == (80, 80)
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT input_key FROM analyses")} == {x["batch"]["key"] for x in lines}


class _Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.slept.append(round(s, 3))
        self.now += s


class _FlakyDB:
    """Fails the first ``fails`` writes as a locked database would."""

    location = "flaky"

    def __init__(self, fails, transient=True):
        self.fails = fails
        self.transient = transient
        self.rows = {}

    def record(self, document, *, input_path, input_key, origin):
        if self.fails:
            self.fails -= 1
            raise HistoryError("cannot record into flaky: database is locked", transient=self.transient)
        self.rows[input_key] = (input_path, origin)
        return len(self.rows)

    def close(self):
        pass


def test_recorder_backs_off_and_keeps_order(docs):
    clock = _Clock()
    rec = Recorder("unused", 0.1, patience=60, clock=clock, sleep=clock.sleep)
    rec.db = _FlakyDB(fails=4)
    rec.offer(docs[0], "a", "ka")  # fails: backing off 0.2 s
    rec.offer(docs[0], "b", "kb")  # within the backoff: queued, not tried
    assert rec.db.fails == 3 and len(rec.pending) == 2
    clock.now += 0.3
    rec.offer(docs[0], "c", "kc")  # tried again, fails again: 0.4 s
    assert rec.db.fails == 2
    assert rec.finish() == []
    assert clock.slept == [0.8, 1.6]  # exponential: 0.2, 0.4 passed while results arrived
    assert list(rec.db.rows) == ["ka", "kb", "kc"] and rec.db.rows["ka"] == ("a", "batch")


def test_recorder_gives_up_after_its_patience_and_reports_each_input(docs):
    clock = _Clock()
    rec = Recorder("unused", 0.1, patience=3, clock=clock, sleep=clock.sleep)
    rec.db = _FlakyDB(fails=10**6)
    for name in "abc":
        rec.offer(docs[0], name, "k" + name)
    left = rec.finish()
    assert [p for p, _ in left] == ["a", "b", "c"] and "locked" in left[0][1]
    assert clock.now <= 3.0
    perm = Recorder("unused", 0.1, clock=clock, sleep=clock.sleep)
    perm.db = _FlakyDB(fails=1, transient=False)
    perm.offer(docs[0], "x", "kx")  # a permanent error is not retried: the next record goes on
    perm.offer(docs[0], "y", "ky")
    assert perm.finish() == [("x", "cannot record into flaky: database is locked")] and list(perm.db.rows) == ["ky"]
