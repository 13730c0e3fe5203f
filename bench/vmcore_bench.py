#!/usr/bin/env python3
"""Time-to-verdict and peak RSS on one dump: gsotriage vs crash(8) vs a bare drgn script.

usage: bench/vmcore_bench.py VMCORE VMLINUX [--runs 3] [--shinfo ADDR]
Each tool runs in a fresh process; peak RSS from wait4()'s rusage. Median of the runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

BARE_DRGN = r"""
import sys, drgn
from drgn.helpers.linux.printk import get_dmesg
from drgn.helpers.linux.net import skb_shinfo
prog = drgn.Program(); prog.set_core_dump(sys.argv[1]); prog.load_debug_info([sys.argv[2]])
trace = prog.crashed_thread().stack_trace()
skb = None
for frame in trace:
    for name in ("head_skb", "gso_skb", "skb"):
        try:
            obj = frame[name]
            if not obj.absent_ and obj.value_() > (1 << 63):
                skb = obj
                break
        except (KeyError, LookupError, ValueError):
            continue
    if skb is not None and frame.name and "gso" in frame.name:
        break
sh = skb_shinfo(skb)
print(int(sh.gso_size), int(sh.gso_segs), int(sh.gso_type), len(get_dmesg(prog)))
"""


def run(argv: List[str], stdin: Optional[bytes] = None) -> Tuple[float, int, int]:
    """(seconds, peak RSS KiB, exit code) of one child."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if stdin is not None and proc.stdin:
        proc.stdin.write(stdin)
    if proc.stdin:
        proc.stdin.close()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    return elapsed, int(usage.ru_maxrss), os.waitstatus_to_exitcode(status)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("vmcore")
    ap.add_argument("vmlinux")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shinfo", default=None, help="skb_shared_info address for crash's struct command")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = os.path.join(tmp, "bare.py")
        with open(bare, "w") as f:
            f.write(BARE_DRGN)
        tools = {
            "gsotriage analyze": (
                [
                    sys.executable,
                    "-m",
                    "gsotriage",
                    "analyze",
                    args.vmcore,
                    "--vmlinux",
                    args.vmlinux,
                    "--format",
                    "json",
                ],
                None,
            ),
            "bare drgn": ([sys.executable, bare, args.vmcore, args.vmlinux], None),
        }
        crash = shutil.which("crash")
        if crash:
            cmds = "bt\n" + (f"struct skb_shared_info {args.shinfo}\n" if args.shinfo else "") + "log\nquit\n"
            tools["crash bt+struct+log"] = ([crash, "-s", args.vmlinux, args.vmcore], cmds.encode())
        rows = []
        for name, (argv, stdin) in tools.items():
            results = [run(argv, stdin) for _ in range(args.runs)]
            codes = sorted({r[2] for r in results})
            rows.append(
                (name, statistics.median(r[0] for r in results), statistics.median(r[1] for r in results), codes)
            )
    base_t = next(r[1] for r in rows if r[0] == "bare drgn")
    base_m = next(r[2] for r in rows if r[0] == "bare drgn")
    print(f"dump: {args.vmcore} ({os.path.getsize(args.vmcore) / 1e6:.0f} MB), median of {args.runs}")
    print(f"{'tool':24} {'seconds':>8} {'x drgn':>7} {'peak RSS MiB':>13} {'x drgn':>7}  exit")
    for name, t, m, codes in rows:
        print(f"{name:24} {t:8.2f} {t / base_t:7.2f} {m / 1024:13.0f} {m / base_m:7.2f}  {codes}")
    g = next(r for r in rows if r[0] == "gsotriage analyze")
    ok_t = g[1] <= base_t + 0.3
    ok_m = g[2] <= 1.3 * base_m
    print(
        f"target: gsotriage <= bare drgn + 0.3 s: {'OK' if ok_t else 'MISSED'} ({g[1] - base_t:+.2f} s); "
        f"memory <= 1.3x: {'OK' if ok_m else 'MISSED'} ({g[2] / base_m:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
