#!/usr/bin/env python3
"""Parity of the text parser with syzkaller's Linux reporter (a benchmark, not a test).

Reads every case of syzkaller's ``pkg/report/testdata/linux/report/`` exactly as
``pkg/report/report_test.go`` does (``\\r`` removed; header lines up to the first
empty line; the log up to a ``REPORT:`` line that follows an empty line), parses
the log with :func:`gsotriage.parse.parse_text` and prints:

- detection: titled cases (syzkaller finds a crash) where gsotriage names a
  ``panic.kind``;
- guilty frame: cases where syzkaller names a guilty function (its ``FRAME:``
  header, else the title's last ``in FUNC``, as ``report.go`` derives
  ``Report.Frame``), counted as found when it is gsotriage's crash function, its
  guilty function or one of its frames; and, stricter, when it *is* gsotriage's
  guilty function (``panic.guilty``, else ``panic.function``);
- false detections: untitled cases (no crash for syzkaller) where gsotriage
  names a ``panic.kind``;
- parser errors: cases whose parse raised (no report at all).

Function names are compared the way syzkaller canonicalises frames: clone
suffixes cut (``.isra.0``, ``.cold``), then the shortest name left by removing
one of its syscall prefixes (``__do_sys_``, ``__x64_sys_``, ``SyS_``...).

PATH is a syzkaller checkout (a directory holding pkg/report/testdata/linux/report)
or syzkaller's bare git directory, e.g. the mirror ``fetch github:google/syzkaller``
leaves. A bare directory is exported first, as by hand::

    git --git-dir=/work/.mirror/google+syzkaller/repo archive HEAD \\
        pkg/report/testdata/linux/report | tar -x -C DIR

Usage: python bench/syzkaller_parity.py PATH [--list misses|all] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gsotriage.model import CrashReport  # noqa: E402
from gsotriage.parse import decode_bytes, parse_text  # noqa: E402

TESTDATA = Path("pkg/report/testdata/linux/report")
# report.go: reportFrameRe, applied to the title to set Report.Frame.
_REPORT_FRAME = re.compile(r".* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)")
# linux.go: linuxStackParams.stripFramePrefixes.
_STRIP_PREFIXES = (
    "SYSC_",
    "SyS_",
    "sys_",
    "__x64_",
    "__ia32_",
    "__arm64_",
    "____sys_",
    "___sys_",
    "__sys_",
    "__se_",
    "__se_sys_",
    "__do_sys_",
    "compat_SYSC_",
    "compat_SyS_",
    "ksys_",
)


@dataclass
class Case:
    name: str
    title: str = ""
    frame: str = ""
    log: bytes = b""
    headers: List[str] = field(default_factory=list)

    @property
    def guilty(self) -> Optional[str]:
        """syzkaller's guilty function: FRAME:, else the title's "in FUNC"."""
        if self.frame:
            return self.frame
        m = _REPORT_FRAME.match(self.title)
        return m.group(1) if m else None


def read_case(path: Path) -> Case:
    """pkg/report/report_test.go parseReport(), line for line."""
    data = path.read_bytes().replace(b"\r", b"")
    case = Case(path.name)
    phase = "headers"
    prev_empty = False
    log: List[bytes] = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # bufio.ScanLines yields no empty token after a final newline
    for raw in lines:
        if phase == "headers":
            if raw == b"":
                phase = "log"
            else:
                text = raw.decode("utf-8", "replace")
                case.headers.append(text)
                if text.startswith("TITLE: "):
                    case.title = text[len("TITLE: ") :]
                elif text.startswith("FRAME: "):
                    case.frame = text[len("FRAME: ") :]
        elif phase == "log":
            if prev_empty and raw == b"REPORT:":
                phase = "report"
            else:
                log.append(raw + b"\n")
        prev_empty = len(raw) == 0
    case.log = b"".join(log)
    return case


def canonical(name: Optional[str]) -> Optional[str]:
    if not name:
        return None
    name = name.split(".", 1)[0]
    best = name
    for prefix in _STRIP_PREFIXES:
        if name.startswith(prefix) and len(name) - len(prefix) < len(best):
            best = name[len(prefix) :]
    return best


def same(want: Optional[str], ours: Optional[str]) -> bool:
    """syzkaller's title frame is the raw name with one prefix stripped (or, from
    a report's own words, the raw name): ``__x64_sys_rmdir`` is ``sys_rmdir``."""
    if not want or not ours:
        return False
    raw = ours.split(".", 1)[0]
    return want in (raw, canonical(raw)) or canonical(want) == canonical(raw)


@dataclass
class Outcome:
    case: Case
    report: Optional[CrashReport]
    error: Optional[str]
    seconds: float

    @property
    def detected(self) -> bool:
        return self.report is not None and self.report.panic.kind is not None

    def names(self) -> Tuple[Optional[str], Optional[str], List[str]]:
        if self.report is None:
            return None, None, []
        p = self.report.panic
        return p.function, getattr(p, "guilty", None), [f.function for f in self.report.frames]

    @property
    def guilty_found(self) -> bool:
        function, guilty, frames = self.names()
        return any(same(self.case.guilty, n) for n in (function, guilty, *frames))

    @property
    def guilty_exact(self) -> bool:
        function, guilty, _ = self.names()
        return same(self.case.guilty, guilty or function)


def export_bare(git_dir: Path, into: Path) -> Path:
    """git archive the testdata of a bare syzkaller repository into ``into``."""
    with tempfile.TemporaryFile() as tar:
        subprocess.run(
            ["git", "--git-dir", str(git_dir), "archive", "HEAD", str(TESTDATA)],
            stdout=tar,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        tar.seek(0)
        with tarfile.open(fileobj=tar) as archive:
            archive.extractall(into, filter="data")
    return into


def run(cases: Iterable[Case]) -> List[Outcome]:
    out = []
    for case in cases:
        t0 = time.perf_counter()
        try:
            report: Optional[CrashReport] = parse_text(decode_bytes(case.log), path=case.name)
            error = None
        except Exception as exc:  # a parser bug: counted, never hidden
            report, error = None, f"{type(exc).__name__}: {exc}"
        out.append(Outcome(case, report, error, time.perf_counter() - t0))
    return out


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100.0 * part / whole:.1f}%" if whole else "0/0"


def summarise(outcomes: List[Outcome]) -> dict:
    titled = [o for o in outcomes if o.case.title]
    untitled = [o for o in outcomes if not o.case.title]
    with_frame = [o for o in titled if o.case.guilty and o.case.guilty != "corrupted"]
    return {
        "cases": len(outcomes),
        "titled": len(titled),
        "detected": sum(o.detected for o in titled),
        "with_guilty": len(with_frame),
        "guilty_found": sum(o.guilty_found for o in with_frame),
        "guilty_exact": sum(o.guilty_exact for o in with_frame),
        "untitled": len(untitled),
        "false_detections": sum(o.detected for o in untitled),
        "errors": sum(o.error is not None for o in outcomes),
        "seconds": sum(o.seconds for o in outcomes),
        "slowest": max(outcomes, key=lambda o: o.seconds).case.name if outcomes else None,
    }


def describe(o: Outcome) -> str:
    if o.error:
        return f"{o.case.name}: ERROR {o.error} [{o.case.title}]"
    assert o.report is not None
    p = o.report.panic
    function, guilty, frames = o.names()
    return (
        f"{o.case.name}: want {o.case.title!r} frame={o.case.guilty}; got kind={p.kind.value if p.kind else None}"
        f" function={function} guilty={guilty} frames={frames[:6]} msg={(p.message or '')[:80]!r}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="syzkaller checkout, or its bare git directory")
    ap.add_argument("--list", choices=("misses", "all"), help="print one line per missed (or every) case")
    ap.add_argument("--json", type=Path, help="write the numbers as JSON to this file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = a.path
        if not (root / TESTDATA).is_dir():
            if (root / "HEAD").is_file() and (root / "objects").is_dir():
                root = export_bare(root, Path(tmp))
            else:
                print(f"error: {a.path} holds no {TESTDATA} and is not a bare git directory", file=sys.stderr)
                return 2
        files = sorted((root / TESTDATA).iterdir(), key=lambda p: (len(p.name), p.name))
        outcomes = run(read_case(p) for p in files if p.is_file())
    s = summarise(outcomes)
    print(f"syzkaller pkg/report Linux testdata: {s['cases']} cases, parsed in {s['seconds']:.2f} s")
    print(f"  crash detected (titled cases):        {_pct(s['detected'], s['titled'])}")
    print(f"  guilty function in function/frames:   {_pct(s['guilty_found'], s['with_guilty'])}")
    print(f"  guilty function = our guilty:         {_pct(s['guilty_exact'], s['with_guilty'])}")
    print(f"  false detections (untitled cases):    {_pct(s['false_detections'], s['untitled'])}")
    print(f"  parser errors (no report):            {s['errors']}")
    if a.list:
        for o in outcomes:
            missed = (
                o.error is not None
                or (o.case.title and not o.detected)
                or (not o.case.title and o.detected)
                or (o.case.title and o.case.guilty and o.case.guilty != "corrupted" and not o.guilty_exact)
            )
            if a.list == "all" or missed:
                print(describe(o))
    if a.json:
        a.json.write_text(json.dumps(s, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
