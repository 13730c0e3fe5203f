#!/usr/bin/env python3
"""Chaos: kill `gsotriage batch --resume` at random points, again and again, then check what it kept.

Before each run a few new inputs join the input directory (so every run has work left), then
`batch DIR -o results.jsonl --resume --jobs 2` starts (history recorded into a database of its
own, TMPDIR a directory of its own) and gets SIGKILL or SIGTERM after a random delay, sent to the
batch process alone or to its whole process group (a `kill -9 PID`, a systemd stop). The inputs
are real text logs (tests/batch/helpers.make_corpus) and synthetic flattened kdumps, whose
reassembly writes the temporary copies a kill could leak. After the kills, one last `--resume`
runs to the end, and the script checks:

* the results file: every input exactly once (no torn line left, none twice, none missing);
* the history database: one row per input key (duplicates and missing rows are counted: "nothing
  recorded twice or lost" needs the database side of issue 15, F10);
* TMPDIR: no file left behind, once every orphaned worker has exited.

Usage: python bench/chaos.py [--runs 50] [--per-run 6] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.batch.helpers import cli_env, make_corpus, read_jsonl  # noqa: E402


def flattened_input(path: Path, mib: int) -> Path:
    """A flattened kdump whose reassembly copies ``mib`` MiB (then drgn refuses it: an input error)."""
    head = (b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        f.write(head)
        for i in range(mib):
            f.write(struct.pack(">qq", i << 20, 1 << 20) + block)
        f.write(struct.pack(">qq", -1, -1))
    return path


def _leftovers(tmpdir: Path) -> List[str]:
    return sorted(p.name for p in tmpdir.iterdir())


def _wait_orphans(pids: List[int], limit: float = 120.0) -> None:
    """Workers of a batch killed alone finish their input and exit; wait for them."""
    deadline = time.monotonic() + limit
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def add_inputs(corpus: Path, work: Path, run: int, count: int, flattened: bool) -> None:
    gen = work / "gen" / str(run)
    for p in make_corpus(gen, count):
        p.rename(corpus / f"r{run:03d}-{p.name}")
    if flattened:
        flattened_input(corpus / f"r{run:03d}-dump.flat", 24)


def _calibrate(work: Path, cmd: List[str], env: Dict[str, str], per_run: int) -> float:
    """Wall seconds of one uninterrupted batch of ``per_run`` inputs (without a flattened dump,
    the shorter kind of run) on a corpus, results and database of its own: the kill points are
    drawn inside it, so that the kills land mid-batch on a fast machine and a slow one alike."""
    corpus = work / "calibrate"
    corpus.mkdir()
    add_inputs(corpus, work / "calibrate-gen", 0, per_run, flattened=False)
    own = list(cmd)
    own[own.index("batch") + 1] = str(corpus)
    own[own.index("-o") + 1] = str(work / "calibrate.jsonl")
    own[own.index("--db") + 1] = str(work / "calibrate.sqlite3")
    t0 = time.monotonic()
    subprocess.run(own, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return time.monotonic() - t0


def run_chaos(work: Path, runs: int, per_run: int, seed: int, max_delay: Optional[float] = None) -> Dict[str, Any]:
    """``max_delay`` None: kill points uniform in [5%, 90%] of a calibrated batch's wall time."""
    rng = random.Random(seed)  # noqa: S311 - reproducible kill points
    corpus = work / "in"
    corpus.mkdir()
    tmpdir = work / "tmp"
    tmpdir.mkdir()
    out = work / "results.jsonl"
    db = work / "history.sqlite3"
    env = cli_env(work, {"TMPDIR": str(tmpdir), "NO_COLOR": "1"})
    cmd = [sys.executable, "-m", "gsotriage", "batch", str(corpus), "-o", str(out), "--resume", "--jobs", "2"]
    cmd += ["--db", str(db), "--no-progress", "--format", "json", "--timeout", "120"]
    if max_delay is None:
        calibrated = _calibrate(work, cmd, env, per_run)
        low, high = 0.05 * calibrated, 0.9 * calibrated
    else:
        calibrated, low, high = None, 0.2, max_delay
    kills: Dict[str, int] = {}
    completed_early = 0
    orphans: List[int] = []
    t_start = time.monotonic()
    for run in range(runs):
        add_inputs(corpus, work, run, per_run, flattened=run % 3 == 0)
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(rng.uniform(low, high))
        if proc.poll() is not None:
            completed_early += 1
            continue
        sig = rng.choice((signal.SIGKILL, signal.SIGTERM))
        group = rng.random() < 0.5
        orphans += _children(proc.pid)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        proc.wait(60)
        name = f"{sig.name} {'group' if group else 'parent'}"
        kills[name] = kills.get(name, 0) + 1
    _wait_orphans(orphans)
    final = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    _wait_orphans(orphans)
    lines = read_jsonl(out)
    per_input: Dict[str, int] = {}
    for line in lines:
        per_input[line["batch"]["input"]] = per_input.get(line["batch"]["input"], 0) + 1
    expected = {str(p) for p in corpus.iterdir()}
    rows: Dict[str, int] = {}
    integrity = "no database"
    if db.exists():
        con = sqlite3.connect(db)
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        for key, n in con.execute("SELECT input_key, COUNT(*) FROM analyses GROUP BY input_key"):
            rows[key] = n
        con.close()
    keys = {line["batch"]["key"] for line in lines if line["batch"]["status"] == "ok"}
    return {
        "runs": runs,
        "inputs": len(expected),
        "kills": kills,
        "runs_that_finished_before_the_kill": completed_early,
        "calibrated_batch_seconds": None if calibrated is None else round(calibrated, 2),
        "final_exit": final.returncode,
        "seconds": round(time.monotonic() - t_start, 1),
        "results": {
            "lines": len(lines),
            "inputs_missing": sorted(expected - set(per_input)),
            "inputs_more_than_once": sorted(k for k, n in per_input.items() if n > 1),
            "statuses_of_those": [
                [
                    (line["batch"]["status"], line["batch"]["key"][-8:], line["batch"].get("error"))
                    for line in lines
                    if line["batch"]["input"] == k
                ]
                for k, n in sorted(per_input.items())
                if n > 1
            ],
            "inputs_exactly_once": sum(1 for k in expected if per_input.get(k) == 1),
        },
        "history_db": {
            "integrity": integrity,
            "rows": sum(rows.values()),
            "ok_results": len(keys),
            "keys_recorded_twice_or_more": sum(1 for n in rows.values() if n > 1),
            "ok_results_not_recorded": len(keys - set(rows)),
        },
        "temp_files_left": _leftovers(tmpdir),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--per-run", type=int, default=6, help="new inputs before each run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="work in this (new) directory and keep it, to look at the results afterwards")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True)
        print(json.dumps(run_chaos(Path(args.keep), args.runs, args.per_run, args.seed), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="gsotriage-chaos-") as tmp:
        print(json.dumps(run_chaos(Path(tmp), args.runs, args.per_run, args.seed), indent=2))


if __name__ == "__main__":
    main()
