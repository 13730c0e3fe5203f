#!/usr/bin/env python3
"""Text triage throughput and memory (a benchmark, not a test).

Measures, on this machine:
  1. logs/s for parse + match over every bundled text input (signatures/cases,
     tests/data/text), repeated --rounds times, in-process;
  2. one very large log (--big-mb of boot noise with one oops in the middle),
     analysed by the CLI in a subprocess: wall time and peak RSS, to show that
     memory stays bounded (the file is streamed).

Usage: python bench/text_bench.py [--rounds 20] [--big-mb 200]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsotriage.match.engine import diagnose  # noqa: E402
from gsotriage.match.loader import load_library  # noqa: E402
from gsotriage.parse import parse_file  # noqa: E402

NOISE = "[  {t:10.6f}] systemd[1]: Started session-{n}.scope - Session {n} of User root.\n"


def inputs() -> list[Path]:
    files = sorted((ROOT / "signatures" / "cases").glob("*.txt"))
    files += sorted((ROOT / "tests" / "data" / "text").glob("*.txt"))
    return [f for f in files if f.stat().st_size > 0]


def throughput(rounds: int) -> None:
    lib = load_library()
    files = inputs()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for f in files:
            diagnose(parse_file(str(f)), lib.signatures)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(
        f"text triage: {len(files)} logs x {rounds} rounds, median {med * 1000:.1f} ms per round "
        f"= {len(files) / med:.0f} logs/s (parse + match against {len(lib.signatures)} signatures)"
    )


def big_log(mb: int) -> None:
    oops = (ROOT / "signatures" / "cases" / "debian-6.1-cloud-skb_segment-null-console.txt").read_text()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "huge.log"
        line = NOISE.format(t=1.0, n=1)
        half = (mb * 1024 * 1024 // 2) // len(line)
        with open(path, "w") as f:
            for i in range(half):
                f.write(NOISE.format(t=i / 1000, n=i))
            f.write(oops)
            for i in range(half):
                f.write(NOISE.format(t=half / 1000 + i / 1000, n=i))
        size = path.stat().st_size / 1024 / 1024
        t0 = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        p = subprocess.run(
            [sys.executable, "-m", "gsotriage", "analyze", str(path), "--format", "json"], capture_output=True
        )
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(
            f"big log: {size:.0f} MiB analysed in {wall:.1f} s ({size / wall:.1f} MiB/s), exit {p.returncode}, "
            f"peak RSS {max(rss, before) / 1024:.0f} MiB"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--big-mb", type=int, default=200)
    a = ap.parse_args()
    throughput(a.rounds)
    if a.big_mb:
        big_log(a.big_mb)


if __name__ == "__main__":
    main()
