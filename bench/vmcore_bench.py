#!/usr/bin/env python3
"""Time-to-verdict and peak RSS on one dump: crash(8), a bare drgn script, and gsotriage
with debuginfo (cold: no per-build profile), with a warm profile (no DWARF loaded, no kallsyms
read: written by a DWARF run and completed by the first run that used it),
and without any debuginfo (kallsyms + BTF + ORC from the dump, no profile).

usage: bench/vmcore_bench.py VMCORE VMLINUX [--runs 3] [--shinfo ADDR] [--no-crash]
Each tool runs in a fresh process; peak RSS from wait4()'s rusage. Median of the runs.
The gsotriage variants find the vmlinux through ``--debuginfo DIR`` (a symlink), with the
standard places off; the warm profile is prepared by two untimed runs first.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

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


def run(argv: List[str], stdin: Optional[bytes] = None, env: Optional[Dict[str, str]] = None) -> Tuple[float, int, int]:
    """(seconds, peak RSS KiB, exit code) of one child."""
    t0 = time.perf_counter()
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        if stdin is not None and proc.stdin:
            proc.stdin.write(stdin)
        if proc.stdin:
            proc.stdin.close()
    except BrokenPipeError:
        pass  # the tool stopped reading early; its exit code says how it ended
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    err.seek(0)
    tail = err.read().decode("utf-8", "replace").strip().splitlines()[-1:]
    if code and tail:  # a failure, not a timing: say it
        print(f"{' '.join(argv[:4])}...: exit {code}: {tail[0]}", file=sys.stderr)
    err.close()
    return elapsed, int(usage.ru_maxrss), os.waitstatus_to_exitcode(status)


def _gsotriage(vmcore: str, *args: str) -> List[str]:
    return [sys.executable, "-m", "gsotriage", "analyze", vmcore, "--format", "json", "--no-progress", *args]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("vmcore")
    ap.add_argument("vmlinux")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shinfo", default=None, help="skb_shared_info address for crash's struct command")
    ap.add_argument("--no-crash", action="store_true", help="leave crash(8) out (it takes ~6 s a run)")
    args = ap.parse_args()
    # An installed gsotriage has its byte-code (pip compiles it); an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (as .ci/run sets) would compile ~25 modules from source on every
    # run, ~70 ms that no user pays. Compile once, as an install does, before timing.
    compileall.compile_dir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gsotriage"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        bare = os.path.join(tmp, "bare.py")
        with open(bare, "w") as f:
            f.write(BARE_DRGN)
        dbg = os.path.join(tmp, "dbg")
        empty = os.path.join(tmp, "empty")
        os.makedirs(dbg)
        os.makedirs(empty)
        os.symlink(os.path.abspath(args.vmlinux), os.path.join(dbg, "vmlinux"))
        cold_profiles = os.path.join(tmp, "cold-profiles")
        warm_profiles = os.path.join(tmp, "warm-profiles")
        nodbg_profiles = os.path.join(tmp, "nodbg-profiles")
        # drgn's plugin scan (entry points of every installed package, ~0.1-0.2 s) is off for all
        # of them: gsotriage turns it off itself (collect/program.py), the bare script would pay it.
        base_env = dict(os.environ, GSOTRIAGE_NO_STANDARD_DEBUGINFO="1", DRGN_DISABLE_PLUGINS="*")
        # (argv, stdin, env, before-each-run): every gsotriage variant finds the vmlinux the same way
        # (--debuginfo DIR), so only the profile state differs.
        tools: Dict[str, Tuple[List[str], Optional[bytes], Dict[str, str], Optional[Callable[[], None]]]] = {
            "bare drgn": ([sys.executable, bare, args.vmcore, args.vmlinux], None, base_env, None),
            "gsotriage debuginfo cold": (
                _gsotriage(args.vmcore, "--debuginfo", dbg),
                None,
                dict(base_env, GSOTRIAGE_PROFILE_DIR=cold_profiles),
                lambda: shutil.rmtree(cold_profiles, ignore_errors=True),
            ),
            "gsotriage warm profile": (
                _gsotriage(args.vmcore, "--debuginfo", dbg),
                None,
                dict(base_env, GSOTRIAGE_PROFILE_DIR=warm_profiles),
                None,
            ),
            "gsotriage no debuginfo": (
                _gsotriage(args.vmcore, "--debuginfo", empty),
                None,
                dict(base_env, GSOTRIAGE_PROFILE_DIR=nodbg_profiles),
                lambda: shutil.rmtree(nodbg_profiles, ignore_errors=True),
            ),
        }
        crash = shutil.which("crash")
        if crash and not args.no_crash:
            cmds = "bt\n" + (f"struct skb_shared_info {args.shinfo}\n" if args.shinfo else "") + "log\nquit\n"
            tools["crash bt+struct+log"] = ([crash, "-s", args.vmlinux, args.vmcore], cmds.encode(), base_env, None)
        # The warm profile is written by one DWARF run, then completed (kallsyms, the BTF lookup
        # memo) by the first run that uses it: neither is timed.
        for _ in range(2):
            run(tools["gsotriage warm profile"][0], None, tools["gsotriage warm profile"][2])
        rows = []
        for name, (argv, stdin, env, before) in tools.items():
            results = []
            for _ in range(args.runs):
                if before:
                    before()
                results.append(run(argv, stdin, env))
            codes = sorted({r[2] for r in results})
            rows.append(
                (name, statistics.median(r[0] for r in results), statistics.median(r[1] for r in results), codes)
            )
    by = {r[0]: r for r in rows}
    base_t, base_m = by["bare drgn"][1], by["bare drgn"][2]
    print(f"dump: {args.vmcore} ({os.path.getsize(args.vmcore) / 1e6:.0f} MB), median of {args.runs}")
    print(f"{'tool':26} {'seconds':>8} {'x drgn':>7} {'peak RSS MiB':>13} {'x drgn':>7}  exit")
    for name, t, m, codes in rows:
        print(f"{name:26} {t:8.2f} {t / base_t:7.2f} {m / 1024:13.0f} {m / base_m:7.2f}  {codes}")
    checks = [
        ("debuginfo cold <= 1.2x bare drgn", by["gsotriage debuginfo cold"][1] <= 1.2 * base_t),
        ("warm profile <= 0.5x bare drgn", by["gsotriage warm profile"][1] <= 0.5 * base_t),
        ("no debuginfo <= 0.5x bare drgn", by["gsotriage no debuginfo"][1] <= 0.5 * base_t),
        ("warm profile <= 150 MiB", by["gsotriage warm profile"][2] <= 150 * 1024),
        ("no debuginfo <= 150 MiB", by["gsotriage no debuginfo"][2] <= 150 * 1024),
    ]
    print("targets: " + "; ".join(f"{what}: {'OK' if ok else 'MISSED'}" for what, ok in checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
