"""Golden-file tests for gsotriage.parse (syzkaller pkg/report style).

Every input under ``tests/data/text/`` (``*.txt`` and kdump ``dmesg.<stamp>``
files, in descriptive folders too) and every text case of the signature library
(``signatures/cases/*.txt``, kept in one copy there) has an expectation
``tests/data/text/<relative name>.expected.json`` holding a compact projection
of the parsed report. New inputs are discovered automatically.

To (re)write the expectations after an intended change, run::

    GSOTRIAGE_UPDATE_GOLDEN=1 python -m pytest tests/parse -q

and review the diff. Provenance of every input is in ``tests/data/text/SOURCES.md`` or ``signatures/cases/SOURCES.md``.

Invariant: re-parsing an input after mangling its transport shape (adding
timestamps, ``> `` mail quoting, CRLF line endings) gives the same projection.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from gsotriage.model import CrashReport, Frame
from gsotriage.parse import parse_text

DATA = Path(__file__).resolve().parent.parent / "data" / "text"
CASES = Path(__file__).resolve().parents[2] / "signatures" / "cases"
UPDATE = os.environ.get("GSOTRIAGE_UPDATE_GOLDEN") == "1"
_DMESG_STAMP = re.compile(r"^dmesg\.\d{12}$")


def _inputs() -> List[Path]:
    found = [
        p
        for root in (DATA, CASES)
        for p in root.rglob("*")
        if p.is_file() and (p.suffix == ".txt" or _DMESG_STAMP.match(p.name)) and p.name != "SOURCES.md"
    ]
    return sorted(found)


def _root(path: Path) -> Path:
    return CASES if path.is_relative_to(CASES) else DATA


def _name(path: Path) -> str:
    return str(path.relative_to(_root(path)))


def _expected(path: Path) -> Path:
    return DATA / (_name(path) + ".expected.json")


def frame_str(f: Frame) -> str:
    text = ("? " if f.questionable else "") + f.function
    if f.offset is not None:
        text += f"+{f.offset:#x}"
    if f.module:
        text += f" [{f.module}]"
    if f.source:
        text += f" ({f.source})"
    if f.inline:
        text += " [inline]"
    return f"{text} <{f.context.value}>"


def project(report: CrashReport) -> Dict[str, Any]:
    k, p = report.kernel, report.panic
    return {
        "source.kind": report.source.kind,
        "source.format": report.source.format,
        "kernel": {
            "release": k.release,
            "version": k.version,
            "distro_version": k.distro_version,
            "arch": k.arch,
            "taint_flags": list(k.taint_flags) if k.taint_flags is not None else None,
        },
        "panic": {
            "kind": p.kind.value if p.kind else None,
            "message": p.message,
            "panic_message": p.panic_message,
            "function": p.function,
            "offset": p.offset,
            "module": p.module,
            "fault_address": hex(p.fault_address) if p.fault_address is not None else None,
            "bug": f"{p.bug_file}:{p.bug_line}" if p.bug_file else None,
            "cpu": p.cpu,
            "pid": p.pid,
            "comm": p.comm,
            "guilty": p.guilty,
        },
        "frames": [frame_str(f) for f in report.frames],
        "frames_complete": report.frames_complete,
        "registers": {
            name: hex(report.registers[name]) for name in ("RIP", "RAX", "RBX", "CR2", "X0") if name in report.registers
        },
        "modules": list(report.modules) if report.modules is not None else None,
        "skbs": [
            {
                "origin": s.origin,
                "len": s.len,
                "data_len": s.data_len,
                "ip_summed": s.ip_summed,
                "encapsulation": s.encapsulation,
                "dev": s.dev,
                "gso_size": s.shinfo.gso_size,
                "gso_segs": s.shinfo.gso_segs,
                "gso_type": s.shinfo.gso_type,
                "gso_type_flags": list(s.shinfo.gso_type_flags) if s.shinfo.gso_type_flags is not None else None,
                "frag_list": s.shinfo.frag_list,
                "nr_frags": s.shinfo.nr_frags,
                "dataref": s.shinfo.dataref,
                "frags": [[fr.size, fr.offset] for fr in s.shinfo.frags] if s.shinfo.frags is not None else None,
            }
            for s in report.skbs
        ],
        "other_events": [f"{e.kind.value if e.kind else None}: {e.title}" for e in report.other_events],
        "notes": list(report.notes),
        "limits": list(report.limits),
    }


def _parse(path: Path, text: str) -> CrashReport:
    return parse_text(text, path=str(path))


@pytest.mark.parametrize("path", _inputs(), ids=_name)
def test_golden(path: Path) -> None:
    got = project(_parse(path, path.read_text(encoding="utf-8", errors="replace")))
    expected_path = _expected(path)
    if UPDATE or not expected_path.exists():
        if not UPDATE:
            pytest.fail(f"no expectation for {path.name}; run with GSOTRIAGE_UPDATE_GOLDEN=1 and review")
        expected_path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    assert got == json.loads(expected_path.read_text(encoding="utf-8"))


def _per_line(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to every line; the newline that ends the text is not a line of its own."""
    body, end = (text[:-1], "\n") if text.endswith("\n") else (text, "")
    return "\n".join(fn(line) for line in body.split("\n")) + end


def _add_timestamps(text: str) -> str:
    # Lines that carry a stamp keep theirs; crash(8) output has none to add. A line
    # without one that follows a stamped line gets the same stamp, as printk gives
    # the lines of one message (so a mailer's wrap stays a continuation).
    stamp = ["[  1.000000]"]

    def one(line: str) -> str:
        m = re.match(r"^\s*(?:> ?)*\s*(\[\s*\d+\.\d+\])", line)
        if m:
            stamp[0] = m.group(1)
            return line
        if re.match(r"^\s*(\[|<\d>|[A-Z][a-z]{2} |crash>)", line):
            return line
        return f"{stamp[0]} {line}"

    return _per_line(text, one)


MANGLERS = {
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "mail-quoted": lambda text: _per_line(text, lambda line: "> " + line),
    "double-quoted": lambda text: _per_line(text, lambda line: ">> " + line),
    "timestamps": _add_timestamps,
    "trailing-spaces": lambda text: _per_line(text, lambda line: line + "   "),
}


def _invariant_view(report: CrashReport) -> Dict[str, Any]:
    view = project(report)
    del view["source.format"]  # the transport shape is exactly what changed
    return view


@pytest.mark.parametrize("mangler", sorted(MANGLERS))
@pytest.mark.parametrize("path", _inputs(), ids=_name)
def test_shape_invariance(path: Path, mangler: str) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    if mangler == "timestamps" and "crash>" in text:
        pytest.skip("crash(8) output carries no printk stamps")
    if mangler == "timestamps" and "wrapped" in path.name:
        pytest.skip("a stamp without the caller id on a mailer-wrapped continuation makes it a line of its own")
    base = _invariant_view(_parse(path, text))
    assert _invariant_view(_parse(path, MANGLERS[mangler](text))) == base


def test_inputs_are_discovered_and_documented() -> None:
    inputs = _inputs()
    assert len(inputs) >= 20
    for path in inputs:
        sources = (_root(path) / "SOURCES.md").read_text(encoding="utf-8")
        assert _name(path) in sources, f"{path.name} missing from {_root(path) / 'SOURCES.md'}"


def test_every_expectation_has_its_input() -> None:
    """An input removed (a re-import drops a look-alike case) takes its expectation with it."""
    names = {_name(p) for p in _inputs()}
    orphans = sorted(
        str(e.relative_to(DATA))
        for e in DATA.rglob("*.expected.json")
        if str(e.relative_to(DATA))[: -len(".expected.json")] not in names
    )
    assert not orphans, f"expectations without an input (delete them): {orphans}"
