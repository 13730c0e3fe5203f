"""Results as JSON Lines: one analysis per line, appended and fsynced as each input finishes.

A batch killed mid-write leaves at most one torn last line; :func:`read_results` ignores it and
:func:`repair_tail` cuts it off before we append, so the next line starts clean.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import IO, Any, Dict, Optional, Tuple

__all__ = ["ResultsFile", "ResultsLog", "append_line", "read_results", "repair_tail"]


@dataclass(frozen=True)
class ResultsLog:
    lines: Tuple[Dict[str, Any], ...]  # every complete, parseable line, in file order
    torn: Optional[str]  # description of an ignored torn/garbled last line, if any
    bad_lines: int  # unparseable complete lines other than the last (reported, ignored)


def read_results(path: str) -> ResultsLog:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return ResultsLog((), None, 0)
    raw = data.split(b"\n")
    complete, tail = raw[:-1], raw[-1]
    lines = []
    bad = 0
    torn: Optional[str] = None
    for i, chunk in enumerate(complete):
        if not chunk.strip():
            continue
        try:
            obj = json.loads(chunk)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            lines.append(obj)
        except ValueError:
            if i == len(complete) - 1 and not tail:
                torn = f"line {i + 1} is not valid JSON ({len(chunk)} bytes); ignored"
            else:
                bad += 1
    if tail.strip():
        torn = f"the last line is incomplete ({len(tail)} bytes, no newline: an earlier run was killed); ignored"
    return ResultsLog(tuple(lines), torn, bad)


def repair_tail(path: str) -> int:
    """Cut an incomplete last line (no trailing newline) off the file; returns the bytes removed."""
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            pos = size
            while pos > 0:
                step = min(65536, pos)
                f.seek(pos - step)
                block = f.read(step)
                nl = block.rfind(b"\n")
                if nl >= 0:
                    keep = pos - step + nl + 1
                    break
                pos -= step
            else:
                keep = 0
            if keep == size:
                return 0
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
            return size - keep
    except FileNotFoundError:
        return 0


def append_line(f: IO[bytes], obj: Dict[str, Any]) -> None:
    """One whole line per write, then flush and fsync: what was reported finished is on disk."""
    f.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n")
    f.flush()
    os.fsync(f.fileno())


class ResultsFile:
    """Append-only results file (``-`` = standard output, no fsync)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._f: IO[bytes]
        if path == "-":
            import sys

            self._f = sys.stdout.buffer
            self._own = False
        else:
            self._f = open(path, "ab")
            self._own = True

    def write(self, obj: Dict[str, Any]) -> None:
        if self._own:
            append_line(self._f, obj)
        else:
            self._f.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n")
            self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()
