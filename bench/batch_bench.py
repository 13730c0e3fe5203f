#!/usr/bin/env python3
"""Throughput of `gsotriage batch` (inputs/s) with --jobs 1 and --jobs 2 on N generated text inputs.

    python bench/batch_bench.py [--count 300] [--jobs 1 2]

The inputs are copies of the real logs in signatures/cases and tests/data/text (plain, timestamps
shifted, a console prefix). Wall time includes process start, library loading in every worker,
and the fsync of every result line; history recording is off (--no-record).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.batch.helpers import make_corpus  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs"
        make_corpus(inputs, args.count)
        print(f"{args.count} text inputs, {os.cpu_count()} CPUs")
        for jobs in args.jobs:
            out = Path(tmp) / f"r{jobs}.jsonl"
            cmd = [sys.executable, "-m", "gsotriage", "batch", str(inputs), "-o", str(out), "--jobs", str(jobs)]
            cmd += ["--no-record", "--no-progress", "--format", "json"]
            t0 = time.monotonic()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            dt = time.monotonic() - t0
            if p.returncode not in (0, 1):
                print(p.stderr, file=sys.stderr)
                return p.returncode
            print(f"--jobs {jobs}: {dt:6.2f}s  {args.count / dt:6.1f} inputs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
