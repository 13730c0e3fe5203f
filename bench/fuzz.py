#!/usr/bin/env python3
"""Fuzzing campaign: hostile inputs against every reader of untrusted data (a benchmark, not a test).

A seeded mutational fuzzer. Seeds are the project's real inputs (the public
crash logs in signatures/cases and tests/data/text, the built-in signature
files, a small flattened kdump built from a real dump's header); mutations
flip, delete, duplicate, splice and repeat bytes, insert the tokens the
parsers key on (``Call Trace:``, ``<IRQ>``, ``RIP:``, NULs, CRs, huge lines),
compress (sometimes as a bomb) and grow inputs to megabytes so time per MB is
measured on large inputs too.

Targets (each runs in its own worker process, restarted after a hang or a death):
  text        detect + read (gsotriage.analysis) + match + JSON document of a file
  parse       gsotriage.parse.parse_text on the decoded bytes
  signature   gsotriage.match.loader.parse_signature on a signature file's bytes
  flattened   gsotriage.collect.flattened.reassemble on a makedumpfile flattened file
  detect      gsotriage.analysis.detect on arbitrary bytes with dump and compression magics

Reported per target: examples run, internal errors (an exception other than the
documented input errors; distinct by type and place, each with a reproducer saved
under --out), hangs (no answer within --hang seconds; the input is saved), worst
time for one input, and worst seconds per MB over inputs of at least 256 KiB (the
inputs behind both are kept under --out as slowest-<target> and steepest-<target>).

Usage: python bench/fuzz.py --minutes 10 [--targets text,parse,...] [--seed N] [--out DIR]
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import os
import random
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKENS = [
    b"Call Trace:\n", b" <IRQ>\n", b" </IRQ>\n", b" <TASK>\n", b" </TASK>\n", b"RIP: 0010:skb_segment+0x22e/0x1f0\n",
    b"BUG: kernel NULL pointer dereference, address: 0000000000000010\n", b"Oops: 0000 [#1] SMP PTI\n",
    b"kernel BUG at net/core/skbuff.c:4044!\n", b"WARNING: CPU: 3 PID: 0 at net/core/dev.c:3304 skb_warn_bad_offload\n",
    b"---[ end trace 0000000000000000 ]---\n", b"Kernel panic - not syncing: Fatal exception in interrupt\n",
    b"crash> bt\n", b"PID: 0  TASK: ffffffff  CPU: 7  COMMAND: \"swapper/7\"\n", b" #0 [ffffb] machine_kexec at ff\n",
    b"gso_type = 1027,\n", b"frag_list = 0x0,\n", b"\0" * 64, b"\r", b"\r\n", b"\xff\xfe", b"\xe2\x80\xae",
    b"  ? skb_segment+0x1/0x2\n", b"Modules linked in: vxlan ip6_udp_tunnel\n", b"[ 1.0] " * 50,
    b"&a [*a, *a]\n", b"*a\n", b"- re:(a+)+$\n", b"{{{{{{{{{{", b"[[[[[[[[[[", b"!!python/object:os.system\n",
    b"makedumpfile", b"KDUMP   ", b"\x7fELF", b"\x1f\x8b", b"\xfd7zXZ\x00", b"BZh9",
]  # fmt: skip


def seeds(target: str) -> List[bytes]:
    if target in ("text", "parse", "detect"):
        files = sorted((ROOT / "signatures" / "cases").glob("*.txt"))
        files += sorted((ROOT / "tests" / "data" / "text").glob("*.txt"))
        out = [f.read_bytes() for f in files if f.stat().st_size]
        if target == "detect":
            elf_core = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x04\x00" + bytes(100)
            out += [flattened_seed(), elf_core, b"KDUMP   " + bytes(200)]
        return out
    if target == "signature":
        return [f.read_bytes() for f in sorted((ROOT / "signatures").glob("*.yaml"))]
    if target == "flattened":
        return [flattened_seed()]
    raise SystemExit(f"unknown target {target}")


def flattened_seed() -> bytes:
    """A flattened kdump of a header, a VMCOREINFO note and a few data records."""
    head = (b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    uts = [b"", b"", b"", b"", b"x86_64", b""]
    kdump = b"KDUMP   " + struct.pack("<i", 6) + b"".join(u.ljust(65, b"\0") for u in uts)
    recs = [(0, kdump), (8192, b"OSRELEASE=6.1.0-57-cloud-amd64\nPAGESIZE=4096\n"), (1 << 16, os.urandom(4096))]
    return head + b"".join(struct.pack(">qq", o, len(d)) + d for o, d in recs) + struct.pack(">qq", -1, -1)


# ---------------------------------------------------------------- mutations


MAX_INPUT = 16 << 20  # large enough for time per MB, small enough for many examples


def mutate(rng: random.Random, data: bytes, pool: List[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
        if len(buf) > MAX_INPUT:
            del buf[MAX_INPUT:]
        op = rng.randrange(11) if rng.random() < 0.15 else rng.choice((0, 1, 2, 3, 4, 5, 9, 10))
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            for _ in range(rng.randrange(1, 16)):
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            del buf[pos : pos + rng.randrange(1, 4096)]
        elif op == 2:
            buf[pos:pos] = rng.choice(TOKENS) * rng.choice((1, 1, 2, 10, 1000))
        elif op == 3 and buf:
            a = rng.randrange(len(buf))
            buf[pos:pos] = buf[a : a + rng.randrange(1, 2048)]
        elif op == 4:
            other = rng.choice(pool)
            a = rng.randrange(len(other) + 1)
            buf[pos:pos] = other[a : a + rng.randrange(1, 8192)]
        elif op == 5:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif op == 6 and buf:  # grow: repeat a slice to megabytes (time per MB on large inputs)
            a = rng.randrange(len(buf))
            chunk = bytes(buf[a : a + rng.randrange(64, 4096)]) or b"x\n"
            buf[pos:pos] = chunk * ((rng.choice((1, 2, 4, 8)) << 20) // len(chunk))
        elif op == 7:  # one huge line
            buf[pos:pos] = rng.choice((b"A", b"\0", b" ", b"<IRQ>", b"\xff")) * (rng.randrange(1, 8) << 20)
        elif op == 8:
            buf[pos:pos] = b"\n" * rng.randrange(1, 1 << 20)
        elif op == 9 and buf:
            del buf[rng.randrange(len(buf)) :]  # truncate
        else:
            buf[pos:pos] = b"\x00"
    return bytes(buf[:MAX_INPUT])


def wrap(rng: random.Random, data: bytes) -> Tuple[bytes, str, int]:
    """Sometimes compress (gzip/xz/bzip2), sometimes as a bomb, sometimes corrupt the stream.
    Returns the input, the compression and the size before compression (what the parser reads,
    at most: a corrupt stream ends early)."""
    r = rng.random()
    if r < 0.75:
        return data, "", len(data)
    kind = rng.choice(("gzip", "xz", "bzip2")) if len(data) < (1 << 20) else "gzip"
    if rng.random() < 0.3:
        kind = "gzip"  # the fast one to build: a decompression bomb
        data = data + b"\0" * (rng.choice((16, 64, 256)) << 20)
    packed = {"gzip": lambda d: gzip.compress(d, 1), "xz": lambda d: lzma.compress(d, preset=0), "bzip2": bz2.compress}[
        kind
    ](data)
    if rng.random() < 0.2 and len(packed) > 20:
        cut = rng.randrange(10, len(packed))
        packed = packed[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 32)))
    return packed, kind, len(data)


# ---------------------------------------------------------------- targets (run in the worker)


def make_target(name: str, workdir: Path) -> Tuple[Callable[[bytes], None], Tuple[type, ...]]:
    """(run(input), the exception types that are documented answers, not internal errors)."""
    from gsotriage.errors import InputError

    if name == "parse":
        from gsotriage.parse import decode_bytes, parse_text

        return (lambda data: parse_text(decode_bytes(data))), ()
    if name in ("text", "detect"):
        from gsotriage.analysis import analyze_path, detect
        from gsotriage.match.loader import load_library

        lib = load_library()
        path = workdir / "input"

        def run(data: bytes) -> None:
            path.write_bytes(data)
            if name == "detect":
                detect(str(path))
                return
            kind = detect(str(path))
            if kind.kind == "text":  # dumps would go to drgn: the flattened target covers that reader
                analyze_path(str(path), lib)

        return run, (InputError,)
    if name == "signature":
        from gsotriage.match.loader import load_signature_file

        sig_path = workdir / "fuzzed-signature.yaml"

        def run_sig(data: bytes) -> None:
            sig_path.write_bytes(data)
            load_signature_file(sig_path)  # as the library reads it: size bound first

        return run_sig, ()
    if name == "flattened":
        from gsotriage.collect.flattened import FlattenedError, reassemble

        flat = workdir / "input.flat"

        def run_flat(data: bytes) -> None:
            flat.write_bytes(data)
            reassemble(str(flat), str(workdir)).close()

        return run_flat, (FlattenedError,)
    raise SystemExit(f"unknown target {name}")


def worker(name: str, seed: int, out: Path) -> None:
    """Run inputs forever; before each, save it as out/current-<target>; report one JSON line after each."""
    rng = random.Random(seed)  # noqa: S311 - reproducible mutations, not secrets
    pool = seeds(name)
    with tempfile.TemporaryDirectory(prefix=f"gsotriage-fuzz-{name}-") as tmp:
        run, allowed = make_target(name, Path(tmp))
        current = out / f"current-{name}"
        slowest = out / f"slowest-{name}.seconds"
        steepest = out / f"steepest-{name}.seconds-per-mib"
        while True:
            if name in ("text", "detect"):
                data, packed, size = wrap(rng, mutate(rng, rng.choice(pool), pool))
            else:
                data = mutate(rng, rng.choice(pool), pool)
                packed, size = "", len(data)
            current.write_bytes(data)
            t0 = time.monotonic()
            error = None
            try:
                run(data)
            except allowed:
                pass
            except Exception as exc:
                tb = traceback.extract_tb(exc.__traceback__)
                where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
                error = f"{type(exc).__name__} at {where}: {str(exc)[:200]}"
                (out / f"error-{name}-{abs(hash(error)) % 10**8}").write_bytes(data)
            took = time.monotonic() - t0
            if took > (float(slowest.read_text()) if slowest.exists() else 0.0):
                (out / f"slowest-{name}").write_bytes(data)
                slowest.write_text(str(took))
            # The input with the worst seconds per MiB (of those >= 256 KiB) too: a superlinear
            # path shows there, not in the absolute slowest (usually the largest input). MiB of
            # what the parser reads: a compressed input counts its size before compression.
            per_mib = took / (size / (1 << 20)) if size >= 256 << 10 else 0.0
            if per_mib > (float(steepest.read_text()) if steepest.exists() else 0.0):
                (out / f"steepest-{name}").write_bytes(data)
                steepest.write_text(str(per_mib))
            line = {"bytes": len(data), "unpacked": size, "packed": packed, "seconds": took, "error": error}
            print(json.dumps(line), flush=True)


# ---------------------------------------------------------------- the campaign (parent)


class Stats:
    def __init__(self) -> None:
        self.examples = 0
        self.errors: Dict[str, int] = {}
        self.hangs = 0
        self.deaths = 0
        self.worst = (0.0, 0)  # seconds, bytes
        self.worst_per_mb = (0.0, 0)  # seconds per MiB, bytes before compression (inputs >= 256 KiB)
        self.bytes = 0

    def to_dict(self) -> Dict[str, object]:
        return {
            "examples": self.examples,
            "internal_errors": sum(self.errors.values()),
            "distinct_internal_errors": self.errors,
            "hangs": self.hangs,
            "worker_deaths": self.deaths,
            "worst_seconds": round(self.worst[0], 3),
            "worst_seconds_input_bytes": self.worst[1],
            "worst_seconds_per_mib": round(self.worst_per_mb[0], 3),
            "worst_seconds_per_mib_input_bytes": self.worst_per_mb[1],
            "mib_processed": round(self.bytes / (1 << 20), 1),
        }


def campaign(target: str, seconds: float, seed: int, hang: float, out: Path) -> Stats:
    stats = Stats()
    deadline = time.monotonic() + seconds
    restarts = 0
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    while time.monotonic() < deadline:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", target, "--seed", str(seed + restarts), "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        restarts += 1
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = ""
        last = time.monotonic()
        startup = 30.0  # loading the library before the first input
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            chunk = os.read(fd, 1 << 16).decode() if ready else ""
            if chunk:
                buf += chunk
                last = time.monotonic()
                startup = 0.0
                *lines, buf = buf.split("\n")
                for raw in lines:
                    rec = json.loads(raw)
                    stats.examples += 1
                    stats.bytes += rec["bytes"]
                    if rec["error"]:
                        stats.errors[rec["error"]] = stats.errors.get(rec["error"], 0) + 1
                    if rec["seconds"] > stats.worst[0]:
                        stats.worst = (rec["seconds"], rec["bytes"])
                    size = rec.get("unpacked", rec["bytes"])
                    if size >= 256 << 10:
                        per = rec["seconds"] / (size / (1 << 20))
                        if per > stats.worst_per_mb[0]:
                            stats.worst_per_mb = (per, size)
                continue
            if ready or proc.poll() is not None:  # readable but empty: the worker is gone
                proc.wait()
                stats.deaths += 1
                (out / f"death-{target}-{stats.deaths}").write_bytes((out / f"current-{target}").read_bytes())
                break
            if time.monotonic() - last > hang + startup:
                stats.hangs += 1
                (out / f"hang-{target}-{stats.hangs}").write_bytes((out / f"current-{target}").read_bytes())
                proc.kill()
                proc.wait()
                break
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="total campaign time, shared by the targets")
    ap.add_argument("--targets", default="text,parse,signature,flattened,detect")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hang", type=float, default=10.0, help="seconds without an answer that count as a hang")
    ap.add_argument("--out", default=None, help="where reproducers go (default: a new temporary directory)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="gsotriage-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(args.worker, args.seed, out)
        return
    targets = [t for t in args.targets.split(",") if t]
    per = args.minutes * 60 / len(targets)
    report: Dict[str, object] = {"minutes": args.minutes, "seed": args.seed, "hang_seconds": args.hang, "out": str(out)}
    for t in targets:
        print(f"fuzz: {t} for {per:.0f}s ...", file=sys.stderr, flush=True)
        report[t] = campaign(t, per, args.seed, args.hang, out).to_dict()
        print(f"fuzz: {t}: {json.dumps(report[t])}", file=sys.stderr, flush=True)
    totals = {
        "examples": sum(r["examples"] for r in report.values() if isinstance(r, dict)),  # type: ignore[misc]
        "internal_errors": sum(r["internal_errors"] for r in report.values() if isinstance(r, dict)),  # type: ignore[misc]
        "hangs": sum(r["hangs"] for r in report.values() if isinstance(r, dict)),  # type: ignore[misc]
    }
    report["total"] = totals
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
