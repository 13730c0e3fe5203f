"""Turn a detected input into a CrashReport: text goes to the parsers; dumps,
the live kernel and QMP sockets go to the drgn collector; a kdump crash
directory gets both (the dump, cross-checked with the kernel log saved beside
it, or the log alone when the dump cannot be used).

We never analyse something other than what was asked: a dump that cannot be
opened is an error or a clearly degraded report, never the running kernel.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable, List, Optional

from gsotriage.errors import InputError
from gsotriage.files import looks_like_text
from gsotriage.model import CrashReport

from .detect import InputKind

__all__ = ["Progress", "load_report"]

Progress = Callable[[str], None]


def _read_stdin() -> CrashReport:
    from gsotriage.parse import decode_bytes, parse_text

    data = sys.stdin.buffer.read()
    if not data:
        raise InputError("standard input was empty: nothing to analyse")
    if not looks_like_text(data[:8192]):
        raise InputError("standard input is not text; pass dumps as a file path")
    return parse_text(decode_bytes(data))


def _parse_log_file(path: str) -> CrashReport:
    from gsotriage.parse import parse_file

    try:
        return parse_file(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def _parse_log_text(text: str, path: str) -> CrashReport:
    from gsotriage.parse import parse_text

    return parse_text(text, path=path)


def load_report(
    kind: InputKind,
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Progress] = None,
) -> CrashReport:
    dirs = list(debuginfo or [])
    if kind.kind == "stdin":
        return _read_stdin()
    if kind.kind == "text":
        return _parse_log_file(kind.path)
    if kind.kind == "crash-dir":
        report = _crash_dir(kind, vmlinux, dirs, progress)
        return dataclasses.replace(report, notes=(*kind.notes, *report.notes)) if kind.notes else report
    from gsotriage.collect import collect

    return collect(kind.kind, kind.path, parse_log=_parse_log_text, vmlinux=vmlinux, debuginfo=dirs, progress=progress)


def _crash_dir(kind: InputKind, vmlinux: Optional[str], dirs: List[str], progress: Optional[Progress]) -> CrashReport:
    """The dump, cross-checked with (or falling back to) the kernel log saved beside it."""
    dmesg_report = None
    if kind.dmesg:
        try:
            dmesg_report = _parse_log_file(kind.dmesg)
        except InputError:
            dmesg_report = None
    if kind.dump:
        try:
            if kind.dump_kind is None:
                raise InputError(kind.dump_error or f"{kind.dump}: not a kernel dump")
            from gsotriage.collect import collect

            report = collect(
                kind.dump_kind,
                kind.dump,
                parse_log=_parse_log_text,
                vmlinux=vmlinux,
                debuginfo=dirs,
                progress=progress,
            )
        except InputError as exc:
            if dmesg_report is None:
                raise
            return dataclasses.replace(
                dmesg_report,
                source=dataclasses.replace(dmesg_report.source, degraded=True),
                notes=(f"the dump could not be analysed ({exc}); analysed {kind.dmesg} instead", *dmesg_report.notes),
            )
        if dmesg_report is not None and kind.dmesg:
            report = dataclasses.replace(report, notes=(*report.notes, _cross_check(report, dmesg_report, kind.dmesg)))
        return report
    if dmesg_report is None:
        raise InputError(f"{kind.path}: crash directory without a readable dump or dmesg file")
    return dataclasses.replace(
        dmesg_report,
        source=dataclasses.replace(dmesg_report.source, degraded=True),
        notes=(f"{kind.path}: no dump file in the crash directory; analysed {kind.dmesg}", *dmesg_report.notes),
    )


def _cross_check(dump: CrashReport, text: CrashReport, path: str) -> str:
    a = (dump.panic.function, dump.panic.kind)
    b = (text.panic.function, text.panic.kind)
    if b == (None, None):
        return f"cross-check: {path} shows no crash"
    if a == b:
        return f"cross-check: {path} agrees (exception {a[0]}, {a[1].value if a[1] else 'unknown kind'})"
    return f"cross-check: {path} DISAGREES: dump says {a[0]} ({a[1]}), dmesg file says {b[0]} ({b[1]})"
