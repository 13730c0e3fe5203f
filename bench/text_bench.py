#!/usr/bin/env python3
"""Text triage throughput and memory (a benchmark, not a test).

Measures, on this machine:
  1. logs/s for parse + match over every bundled text input (signatures/cases,
     tests/data/text), repeated --rounds times, in-process;
  2. a large journal (--journal-mb of journalctl-style kernel and daemon lines
     with a few real oopses spread through it), analysed by the CLI in a
     subprocess: MiB/s, wall time and the child's own peak RSS (the file is
     streamed: memory must not grow with it);
  3. bad inputs, each by the CLI: --newlines-mb of newlines only, one line of
     --line-mb characters, and 1,000 ``<IRQ>`` markers inside a call trace:
     seconds, peak RSS and exit code.

Usage: python bench/text_bench.py [--rounds 20] [--journal-mb 300] [--newlines-mb 20] [--line-mb 100]
(0 skips a part.)
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, TextIO, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsotriage.match.engine import diagnose  # noqa: E402
from gsotriage.match.loader import load_library  # noqa: E402
from gsotriage.parse import parse_file  # noqa: E402

MIB = 1024 * 1024
# Real oopses from the bundled cases, dropped into the journal.
OOPSES = (
    "signatures/cases/debian-6.1-cloud-skb_segment-null-console.txt",
    "signatures/cases/syzbot-skb_segment-mss-overflow-console.txt",
    "tests/data/text/arm64-5.10-unable-to-handle-null-deref-skb_segment.txt",
    "tests/data/text/several-warns-refcount-then-oops-6.1.txt",
)
NOISE = (
    "{d} host systemd[1]: Started session-{n}.scope - Session {n} of User root.",
    "{d} host kernel: [{t:12.6f}] IPv6: ADDRCONF(NETDEV_CHANGE): veth{n}: link becomes ready",
    "{d} host kernel: [{t:12.6f}] br0: port {p}(veth{n}) entered forwarding state",
    "{d} host sshd[{n}]: Accepted publickey for root from 10.0.{p}.7 port {n} ssh2: ED25519 SHA256:x",
    '{d} host kernel: [{t:12.6f}] audit: type=1400 audit({t:.3f}:{n}): apparmor="STATUS" operation="profile_load"',
    '{d} host containerd[812]: time="2026-11-26T01:02:03Z" level=info msg="shim disconnected" id={n:x}',
    "{d} host kernel: [{t:12.6f}] nf_conntrack: default automatic helper assignment has been turned off",
    # Lines that hold a keyword ("crash", "PID: ", "Call Trace") but belong to no report:
    # each costs a line-by-line look.
    "{d} host systemd[1]: kdump-tools.service: Main PID: {n} (kdump-config), loading crash kernel",
)


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


# A small process runs the CLI, so the CLI's peak RSS is its own, not this
# benchmark's (a forked child starts with its parent's resident pages).
_RUNNER = """
import os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(time.perf_counter() - t0, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_cli(path: Path) -> Tuple[float, float, int]:
    """-> (wall seconds, the CLI's peak RSS in MiB, exit code)."""
    cmd = [sys.executable, "-m", "gsotriage", "analyze", str(path), "--format", "json", "--no-record", "--no-progress"]
    out = subprocess.run([sys.executable, "-c", _RUNNER, *cmd], capture_output=True, text=True, check=True).stdout
    wall, rss_kib, code = out.split()
    return float(wall), int(rss_kib) / 1024, int(code)


def write_journal(path: Path, mb: int, seed: int = 1) -> int:
    """A journalctl-style log of about ``mb`` MiB with the OOPSES spread through it."""
    rng = random.Random(seed)  # noqa: S311 - reproducible noise, not security
    oopses = [(ROOT / o).read_text() for o in OOPSES]
    target = mb * MIB
    marks = sorted(rng.sample(range(1, 100), len(oopses)))  # percent positions
    written = 0
    n = 0
    placed = 0
    with open(path, "w") as f:
        while written < target:
            batch: List[str] = []
            for _ in range(2000):
                n += 1
                t = n / 1000
                line = rng.choice(NOISE).format(d="Nov 26 01:02:03", t=t, n=n, p=n % 8)
                batch.append(line)
            chunk = "\n".join(batch) + "\n"
            f.write(chunk)
            written += len(chunk)
            while placed < len(oopses) and written >= target * marks[placed] / 100:
                f.write(oopses[placed])
                written += len(oopses[placed])
                placed += 1
    return len(oopses)


def journal(mb: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "journal.log"
        count = write_journal(path, mb)
        size = path.stat().st_size / MIB
        wall, rss, code = run_cli(path)
        print(
            f"journal: {size:.0f} MiB with {count} oopses analysed in {wall:.1f} s = {size / wall:.1f} MiB/s, "
            f"peak RSS {rss:.0f} MiB, exit {code}"
        )


def _one_line(f: TextIO, mib: int) -> None:
    for _ in range(mib):
        f.write("x" * MIB)  # written in pieces: this process stays small
    f.write("\n")


def bad_inputs(newlines_mb: int, line_mb: int) -> None:
    oops = (ROOT / OOPSES[0]).read_text().splitlines(keepends=True)
    trace_at = next(i for i, line in enumerate(oops) if "Call Trace:" in line) + 1
    cases = []
    if newlines_mb:
        cases.append((f"{newlines_mb} MB of newlines", lambda f: f.write("\n" * (newlines_mb * 1000 * 1000))))
    if line_mb:
        cases.append((f"one {line_mb} MiB line", lambda f: _one_line(f, line_mb)))
    cases.append(
        (
            "1,000 <IRQ> markers in a trace, one a line",
            lambda f: f.write("".join(oops[:trace_at]) + " <IRQ>\n" * 1000 + "".join(oops[trace_at:])),
        )
    )
    cases.append(
        (
            "1,000 <IRQ> markers on one line of a trace",
            lambda f: f.write("".join(oops[:trace_at]) + " <IRQ>" * 1000 + "\n" + "".join(oops[trace_at:])),
        )
    )
    with tempfile.TemporaryDirectory() as d:
        for name, write in cases:
            path = Path(d) / "bad.log"
            with open(path, "w") as f:
                write(f)
            wall, rss, code = run_cli(path)
            print(f"bad input: {name}: {wall:.2f} s, peak RSS {rss:.0f} MiB, exit {code}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--journal-mb", type=int, default=300)
    ap.add_argument("--newlines-mb", type=int, default=20)
    ap.add_argument("--line-mb", type=int, default=100)
    a = ap.parse_args()
    if a.rounds:
        throughput(a.rounds)
    if a.journal_mb:
        journal(a.journal_mb)
    bad_inputs(a.newlines_mb, a.line_mb)


if __name__ == "__main__":
    main()
