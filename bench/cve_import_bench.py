#!/usr/bin/env python3
"""CVE import throughput and outcome (a benchmark, not a test).

Measures, on this machine, over a checkout of the kernel CNA's records:
  1. reading: CVE JSON 5 files -> records, records/s (median of --rounds);
  2. analysing: parse each networking record's quoted trace and decide its scope;
  3. the whole import (a dry run into a scratch copy of the built-in library):
     in scope / with a trace / proposed / merged / rejected, cross-fire count, seconds,
     and the external traces (signatures/cases/cve-traces/) used, searched for, not searched.
With --frames it also prints the frames most records' traces share and which table of
gsotriage.kernel.frames (machinery, helper, plumbing, dispatch) holds each: the data
those tables were derived from.

Usage: python bench/cve_import_bench.py VULNS/cve/published [--rounds 3] [--frames]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsotriage.cve.corpus import analyse  # noqa: E402
from gsotriage.cve.external import load_external  # noqa: E402
from gsotriage.cve.importer import run_import  # noqa: E402
from gsotriage.cve.records import read_records  # noqa: E402
from gsotriage.kernel import frames  # noqa: E402


def reading(paths: list[str], rounds: int) -> list:
    times, records = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = read_records(paths)
        times.append(time.perf_counter() - t0)
        records = list(res.records)
    med = statistics.median(times)
    print(f"read: {len(records)} records in {med:.2f} s median of {rounds} = {len(records) / med:.0f} records/s")
    return records


def analysing(records: list) -> list:
    external = load_external(ROOT / "signatures").traces
    t0 = time.perf_counter()
    done = [
        analyse(r, external.get(r.cve))
        for r in records
        if any(f.startswith(("net/", "drivers/net/", "include/")) for f in r.program_files)
    ]
    dt = time.perf_counter() - t0
    print(
        f"analyse: {len(done)} networking records (trace parsed, scope decided) in {dt:.2f} s "
        f"= {len(done) / dt:.0f}/s; "
        f"in scope {sum(a.scope.in_scope for a in done)}, of them with a parsed trace "
        f"{sum(a.scope.in_scope and a.has_trace for a in done)}"
    )
    return done


def importing(paths: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        lib = Path(d) / "signatures"
        shutil.copytree(ROOT / "signatures", lib, ignore=shutil.ignore_patterns("cve-*.yaml"))
        s = run_import(paths, lib, dry_run=True)
    print(
        f"import (dry run into the hand-written library): {s.total_seconds:.1f} s; in scope {len(s.outcomes)}, "
        f"proposed {s.count('proposed')}, merged {s.count('merged')}, rejected {s.count('rejected')}, "
        f"cross-fire {len(s.cross_fire)}, ties {s.ties}, non-GSO negatives {s.negatives}"
    )
    e = s.external
    print(
        f"external traces: used {s.external_used() or 0}; index: found {e.get('found', 0)}, "
        f"searched without result {e.get('not_found', 0)}, not searched {e.get('not_searched', 0)}; "
        f"trace-less in-scope records the index does not list: {len(s.no_trace_unlisted)}"
    )


def frame_table(analysed: list, top: int = 60) -> None:
    seen: Counter[str] = Counter()
    for a in analysed:
        seen.update(set(a.stack[:16]))
    tables = (
        ("machinery", frames.MACHINERY),
        ("helper", frames.HELPER),
        ("plumbing", frames.PLUMBING),
        ("dispatch", frames.DISPATCH),
        ("origin", frames.ORIGIN),
    )
    print(f"frames shared by most of {len(analysed)} networking records' traces:")
    for name, n in seen.most_common(top):
        where = next((t for t, rx in tables if rx.match(name)), "-")
        print(f"  {n:5}  {name:40} {where}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", action="store_true")
    args = ap.parse_args()
    records = reading(args.paths, args.rounds)
    analysed = analysing(records)
    if args.frames:
        frame_table(analysed)
    importing(args.paths)


if __name__ == "__main__":
    main()
