"""The crash history database: migrations, concurrent writers, window/kernel/bucket queries, CLI."""

from __future__ import annotations

import copy
import json
import multiprocessing
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from gsotriage.analysis import analyze_path
from gsotriage.history.store import SCHEMA_VERSION, HistoryDB, HistoryError, parse_when, query_history
from tests.batch.helpers import run_cli
from tests.conftest import CASES, SEED

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
HUNG = CASES.parent.parent / "tests" / "data" / "text"


@pytest.fixture(scope="module")
def docs(library):
    seed = analyze_path(str(SEED), library).document
    generic = next(
        d
        for d in (analyze_path(str(p), library).document for p in sorted(HUNG.glob("*.txt")))
        if not d["summary"]["specific"]
    )
    return seed, generic


def _with_kernel(doc, release):
    d = copy.deepcopy(doc)
    d["report"]["kernel"]["release"] = release
    return d


def test_a_v1_database_migrates_without_losing_rows(tmp_path, docs):
    seed, generic = docs
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    # The v1 schema, written out by hand as the first release created it.
    conn.execute(
        "CREATE TABLE analyses (id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at TEXT NOT NULL,"
        " input_path TEXT, kernel_release TEXT, root_cause TEXT, status TEXT, document TEXT NOT NULL)"
    )
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
        assert db.version == SCHEMA_VERSION == 2
        rows = db.conn.execute(
            "SELECT id, input_path, root_cause, specific, bucket, tool_version, signature_digest"
            " FROM analyses ORDER BY id"
        ).fetchall()
        assert [r[1] for r in rows] == ["/var/crash/0", "/var/crash/1", "/var/crash/2"]
        assert rows[0][2:4] == ("gso-tunnel-tcp-metadata-geometry-mismatch", 1)  # backfilled from the document
        assert rows[1][3] == 0 and rows[1][4] == generic["report"]["bucket"]
        assert all(r[5] and r[6] for r in rows)
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.record(seed, input_path="/new")
        assert db.count() == 4
    with HistoryDB(path) as db:  # opening again is a no-op
        assert db.count() == 4


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(HistoryError, match="newer than this gsotriage"):
        HistoryDB(path)


def _writer(path: str, n: int, doc: dict, tag: int) -> None:
    with HistoryDB(path, busy_timeout=30) as db:
        for i in range(n):
            db.record(doc, input_path=f"/w{tag}/{i}", input_key=f"{tag}-{i}")


def test_concurrent_writers_in_several_processes(tmp_path, docs):
    path = str(tmp_path / "h.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 40, docs[0], t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT input_key) FROM analyses").fetchone() == (160, 160)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


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
    for doc, rel, days_ago in plan:
        db.record(_with_kernel(doc, rel), input_path=rel, recorded_at=NOW - timedelta(days=days_ago))
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


def test_parse_when():
    assert parse_when("12h", now=NOW) == NOW - timedelta(hours=12)
    assert parse_when("2w", now=NOW) == NOW - timedelta(weeks=2)
    assert parse_when("2026-11-01") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_when("soon")
