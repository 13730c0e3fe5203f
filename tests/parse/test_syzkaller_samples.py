"""Regression tests on a sample of syzkaller's own Linux report testdata.

``tests/parse/syzkaller/`` holds unchanged copies of cases from google/syzkaller
``pkg/report/testdata/linux/report/`` (Apache-2.0; sources in SOURCES.md): one per
report family syzkaller knows, plus cases for interleaved callers, wrapped and glued
lines, several oopses and the logs syzkaller finds no crash in. Each is read the way
syzkaller's ``report_test.go`` reads it. A case with a ``TITLE:`` must give a panic
kind, and the function its title blames (``FRAME:``, else the last ``in FUNC``) must be
``panic.guilty``; a case without a title must give none. The whole testdata is measured
by ``bench/syzkaller_parity.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from gsotriage.parse import decode_bytes, parse_text
from gsotriage.parse.guilty import strip_frame

SAMPLES = Path(__file__).resolve().parent / "syzkaller"
_TITLE_FRAME = re.compile(r".* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)")  # report.go reportFrameRe


def _read(path: Path) -> Tuple[str, Optional[str], str]:
    """-> (title, frame, log) as report_test.go's parseReport() splits a case."""
    title, frame = "", None
    log: List[str] = []
    phase, prev_empty = "headers", False
    for raw in path.read_bytes().replace(b"\r", b"").decode("utf-8", "replace").split("\n"):
        if phase == "headers":
            if raw == "":
                phase = "log"
            elif raw.startswith("TITLE: "):
                title = raw[7:]
            elif raw.startswith("FRAME: "):
                frame = raw[7:]
        elif phase == "log":
            if prev_empty and raw == "REPORT:":
                break
            log.append(raw)
        prev_empty = raw == ""
    if frame is None:
        m = _TITLE_FRAME.match(title)
        frame = m.group(1) if m else None
    return title, frame, "\n".join(log)


def _cases() -> List[Path]:
    return sorted(SAMPLES.glob("*.txt"))


def test_samples_are_documented() -> None:
    sources = (SAMPLES / "SOURCES.md").read_text()
    assert "Apache License" in (SAMPLES / "LICENSE").read_text()
    cases = _cases()
    assert len(cases) >= 60
    for path in cases:
        assert f"| {path.name} | pkg/report/testdata/linux/report/" in sources, path.name


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_syzkaller_sample(path: Path) -> None:
    title, frame, log = _read(path)
    report = parse_text(decode_bytes(log.encode()))
    if not title:
        assert report.panic.kind is None, f"invented a crash: {report.panic.message}"
        return
    assert report.panic.kind is not None, f"missed {title!r}"
    if frame and frame != "corrupted":
        guilty = report.panic.guilty
        assert guilty is not None, f"no guilty frame, syzkaller blames {frame}"
        base = guilty.split(".", 1)[0]
        assert frame in (base, strip_frame(base)), f"guilty {guilty}, syzkaller blames {frame}"
