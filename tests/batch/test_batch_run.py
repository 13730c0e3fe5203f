"""gsotriage batch end to end: real worker processes, real files, kills, resume, failures."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gsotriage.analysis import analyze_path
from gsotriage.batch.discover import discover
from gsotriage.batch.jsonl import read_results
from tests.batch.helpers import SOURCES, cli_env, make_corpus, read_jsonl, run_cli
from tests.conftest import SEED


def _by_input(lines):
    out = {}
    for line in lines:
        out.setdefault(line["batch"]["input"], []).append(line)
    return out


def test_300_inputs_get_the_same_verdicts_as_analyze(batch300, library):
    lines = read_jsonl(batch300 / "results.jsonl")
    assert len(lines) == 300
    by_input = _by_input(lines)
    assert len(by_input) == 300 and all(len(v) == 1 for v in by_input.values())
    assert {line["batch"]["status"] for line in lines} == {"ok"}
    assert len({line["batch"]["worker_pid"] for line in lines}) >= 2  # really parallel
    # Every line is the analyze document plus the envelope, nothing else at the top level.
    cwd = os.getcwd()
    os.chdir(batch300)  # the inputs were given relative to the batch's working directory
    try:
        for inp, (line,) in by_input.items():
            doc = analyze_path(inp, library).document
            rest = {k: v for k, v in line.items() if k != "batch"}
            assert rest == doc, inp
    finally:
        os.chdir(cwd)
    # A sample against the real `analyze --format json` command, byte-for-byte as JSON.
    for inp in sorted(by_input)[::75]:
        p = run_cli(batch300, "analyze", inp, "--format", "json")
        assert p.returncode in (0, 1), p.stderr
        rest = {k: v for k, v in by_input[inp][0].items() if k != "batch"}
        assert json.loads(p.stdout) == rest


def test_mutated_copies_keep_the_root_cause_of_the_original(batch300, library):
    lines = read_jsonl(batch300 / "results.jsonl")
    originals = {src.name: analyze_path(str(src), library).document["summary"] for src in SOURCES}
    for line in lines:
        name = Path(line["batch"]["input"]).name.split("-", 1)[1]
        original = originals[name]
        got = line["summary"]
        same = (got["root_cause"], got["status"]) == (original["root_cause"], original["status"])
        assert same, line["batch"]["input"]


def test_summary_and_history_of_the_300_batch(batch300):
    summary = json.loads((batch300 / "summary.json").read_text())
    assert summary["schema_version"] and summary["total"] == 300 and summary["analysed"] == 300
    lines = read_jsonl(batch300 / "results.jsonl")
    specific = [x for x in lines if x["summary"]["specific"]]
    assert summary["specific"] == len(specific)
    counts = {}
    for x in specific:
        counts[x["summary"]["root_cause"]] = counts.get(x["summary"]["root_cause"], 0) + 1
    assert {r["root_cause"]: r["count"] for r in summary["root_causes"]} == counts
    assert sum(b["count"] for b in summary["unknown_buckets"]) == 300 - len(specific)
    seed_row = next(r for r in summary["root_causes"] if r["root_cause"] == "gso-tunnel-tcp-metadata-geometry-mismatch")
    assert "4.18.0-553.47.1.el8_10" in seed_row["kernels"]
    assert summary["failures"]["inputs"] == []
    with sqlite3.connect(batch300 / "history.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 300
        assert conn.execute("SELECT COUNT(DISTINCT input_key) FROM analyses").fetchone()[0] == 300
    assert summary["not_recorded"] == 0
    # Not a TTY: plain progress lines, ending with the final count.
    assert "batch 300/300 done" in (batch300 / "stderr.txt").read_text()


def test_kill_9_mid_run_then_resume_loses_and_redoes_nothing(tmp_path):
    make_corpus(tmp_path / "in", 100)
    out = tmp_path / "r.jsonl"
    args = [sys.executable, "-m", "gsotriage", "batch", "in", "-o", str(out), "--jobs", "2", "--no-record"]
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
        while time.monotonic() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") >= 20:
                break
            assert proc.poll() is None, "the batch finished before it could be killed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its workers, mid-run
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = read_results(str(out))
    done_before = len(before.lines)
    assert 20 <= done_before < 100
    p = run_cli(tmp_path, "batch", "in", "-o", str(out), "--jobs", "2", "--no-record", "--resume", "--format", "json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["ran"] == 100 - done_before  # nothing redone
    assert summary["resumed"] == done_before and summary["total"] == 100
    final = read_results(str(out))
    assert final.torn is None and final.bad_lines == 0
    by_input = _by_input(final.lines)
    assert sorted(by_input) == sorted(f"in/{p.name}" for p in (tmp_path / "in").iterdir())
    assert all(len(v) == 1 for v in by_input.values())  # every input exactly once


def test_a_torn_last_line_is_reported_once_and_cut(tmp_path):
    make_corpus(tmp_path / "in", 4)
    out = tmp_path / "r.jsonl"
    p = run_cli(tmp_path, "batch", "in/000-*", "in/001-*", "-o", str(out), "--no-record", "-j", "1")
    assert p.returncode == 0, p.stderr
    with open(out, "ab") as f:
        f.write(b'{"batch": {"input": "in/002-x", "status": "o')  # what a kill mid-write leaves
    p = run_cli(tmp_path, "batch", "in", "-o", str(out), "--no-record", "--resume", "--format", "json", "-j", "2")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("incomplete") == 1, p.stderr
    assert json.loads(p.stdout)["ran"] == 2
    final = read_results(str(out))
    assert final.torn is None and len(final.lines) == 4
    assert len(_by_input(final.lines)) == 4


def test_bad_inputs_are_results_and_the_batch_goes_on(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    seed = SEED.read_bytes()
    (d / "good.txt").write_bytes(seed)
    for hook in ("__sleep__", "__alloc__", "__segv__", "__raise__"):
        (d / f"{hook}.txt").write_bytes(seed)
    (d / "dangling").symlink_to(d / "nowhere")
    os.mkfifo(d / "pipe")
    (d / "crashdir").mkdir()  # a kdump crash directory whose "vmcore" is garbage: one input, unreadable
    (d / "crashdir" / "vmcore").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + bytes(40))
    (d / "empty.txt").write_bytes(b"")
    explicit = sorted(str(p.relative_to(tmp_path)) for p in d.iterdir())
    t0 = time.monotonic()
    p = run_cli(
        tmp_path,
        "batch",
        *explicit,
        "-o",
        "r.jsonl",
        "--timeout",
        "3",
        "--memory-limit",
        "300",
        "--jobs",
        "2",
        "--no-record",
        "--format",
        "json",
        faults=True,
    )
    assert time.monotonic() - t0 < 60
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    status = {Path(x["batch"]["input"]).name: x["batch"] for x in read_jsonl(tmp_path / "r.jsonl")}
    assert status["good.txt"]["status"] == "ok"
    assert status["__sleep__.txt"]["status"] == "timeout"
    assert status["__alloc__.txt"]["status"] == "oom"
    assert status["__segv__.txt"]["status"] == "crashed" and status["__segv__.txt"]["signal"] == signal.SIGSEGV
    assert status["__raise__.txt"]["status"] == "internal-error"
    assert "simulated bug" in status["__raise__.txt"]["error"]
    for name in ("dangling", "pipe", "crashdir", "empty.txt"):
        assert status[name]["status"] == "input-error", name
        assert status[name]["error"]
    summary = json.loads(p.stdout)
    assert summary["analysed"] == 1 and len(summary["failures"]["inputs"]) == 8
    # A failure line is the envelope plus schema_version and tool, nothing else.
    line = next(x for x in read_jsonl(tmp_path / "r.jsonl") if x["batch"]["status"] == "timeout")
    assert set(line) == {"batch", "schema_version", "tool"}


def test_resume_retries_transient_failures_only(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "good.txt").write_bytes(SEED.read_bytes())
    (d / "__sleep__.txt").write_bytes(SEED.read_bytes())
    (d / "dangling").symlink_to(d / "nowhere")
    args = ["batch", "in/good.txt", "in/__sleep__.txt", "in/dangling", "-o", "r.jsonl", "--timeout", "1"]
    args += ["--no-record", "--format", "json"]
    p = run_cli(tmp_path, *args, faults=True)
    assert p.returncode == 1
    p = run_cli(tmp_path, *args, "--resume")  # no faults now: the "slow" input is fine
    assert p.returncode == 1  # the dangling symlink is still a failure, taken from the first run
    summary = json.loads(p.stdout)
    assert summary["ran"] == 1 and summary["resumed"] == 2
    assert summary["failures"]["counts"] == {"input-error": 1}


def test_no_inputs_is_a_usage_error(tmp_path):
    (tmp_path / "notes.md").write_text("nothing to see\n")
    p = run_cli(tmp_path, "batch", str(tmp_path), "-o", "r.jsonl")
    assert p.returncode == 2
    assert "no inputs found" in p.stderr and "Traceback" not in p.stderr
    p = run_cli(tmp_path, "batch", "does-not-exist/*.txt")
    assert p.returncode == 2 and "matching glob" in p.stderr


def test_quoted_globs_and_crash_directories(tmp_path):
    make_corpus(tmp_path / "logs" / "a", 3)
    crash = tmp_path / "logs" / "crash" / "127.0.0.1-2026-11-26-03:01:02"
    crash.mkdir(parents=True)
    (crash / "vmcore-dmesg.txt").write_bytes(SEED.read_bytes())
    (crash / "vmcore").write_bytes(b"\x7fELF" + b"\0" * 60)
    (tmp_path / "logs" / "a" / "vmlinux.bin").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00" + b"\0" * 40)
    found = discover([str(tmp_path / "logs")])
    assert str(crash) in found.inputs and len(found.inputs) == 4  # the crash directory is one input
    assert not any(p.startswith(str(crash) + "/") for p in found.inputs)
    assert found.skipped == 1  # the vmlinux (ELF, not a core) is not an input
    found = discover([str(tmp_path / "logs" / "**" / "*.txt")])  # a quoted glob, expanded by us
    assert len(found.inputs) == 4
    found = discover([str(tmp_path / "logs" / "a"), str(tmp_path / "logs" / "a" / "*.txt")])
    assert len(found.inputs) == 3  # one input once


def test_analyze_record_is_off_by_default_and_on_with_record(tmp_path):
    db = tmp_path / "h.sqlite3"
    p = run_cli(tmp_path, "analyze", str(SEED), "--db", str(db))
    assert p.returncode == 0 and not db.exists()
    p = run_cli(tmp_path, "analyze", str(SEED), "--record", "--db", str(db), "--format", "json", "--compact")
    assert p.returncode == 0, p.stderr
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT root_cause, kernel_release, specific, document FROM analyses").fetchall()
    assert len(row) == 1
    assert row[0][:3] == ("gso-tunnel-tcp-metadata-geometry-mismatch", "4.18.0-553.47.1.el8_10", 1)
    assert json.loads(row[0][3]) == json.loads(p.stdout)


@pytest.mark.parametrize("flag", ["--help"])
def test_help_documents_exit_codes(tmp_path, flag):
    for cmd in ("batch", "regress"):
        p = run_cli(tmp_path, cmd, flag)
        assert p.returncode == 0 and "Exit codes:" in p.stdout
