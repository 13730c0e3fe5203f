"""Helpers for the batch tests: a generated corpus of real text inputs and a CLI runner."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from tests.conftest import CASES, ROOT

TEXT_DATA = ROOT / "tests" / "data" / "text"
SOURCES = sorted(CASES.glob("*.txt")) + sorted(TEXT_DATA.glob("*.txt"))
_STAMP = re.compile(rb"\[\s*(\d+)\.(\d{6})\]")


def cli_env(tmp: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("FORCE_COLOR", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["GSOTRIAGE_DB"] = str(tmp / "default-history.sqlite3")  # never the user's real database
    env.update(extra or {})
    return env


def run_cli(tmp: Path, *args: str, env: Optional[Dict[str, str]] = None, timeout: float = 180, faults: bool = False):
    """Run the CLI; ``faults=True`` runs it through tests/batch/faults.py (misbehaving workers)."""
    module = "tests.batch.faults" if faults else "gsotriage"
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=cli_env(tmp, env),
        cwd=tmp,
        timeout=timeout,
    )


def _shift(data: bytes, offset: int) -> bytes:
    def sub(m: re.Match) -> bytes:
        secs = int(m.group(1)) + offset
        return b"[%5d.%s]" % (secs, m.group(2))

    return _STAMP.sub(sub, data)


def make_corpus(dest: Path, count: int) -> List[Path]:
    """`count` inputs made from the real logs: plain copies, shifted timestamps, a console prefix."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        src = SOURCES[i % len(SOURCES)]
        data = src.read_bytes()
        variant = (i // len(SOURCES)) % 3
        if variant == 1:
            data = _shift(data, 1000 + i)
        elif variant == 2:
            data = b"serial console capture, host test-%03d\n" % i + data
        p = dest / f"{i:03d}-{src.name}"
        p.write_bytes(data)
        out.append(p)
    return out


def read_jsonl(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def copy_signatures(dest: Path) -> Path:
    shutil.copytree(ROOT / "signatures", dest, ignore=shutil.ignore_patterns("cases"))
    return dest
