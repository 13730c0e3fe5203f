"""The drgn collector: the only subpackage that imports drgn (lazily).

``collect()`` turns a dump, the live kernel or a QMP socket into the same
CrashReport the text parsers produce. Modules, one job each: ``program`` (program
+ debug info), ``flattened`` (makedumpfile flattened format), ``dmesg`` (kernel
log, also without debug info), ``stack`` (unwind), ``skb`` (find/decode
sk_buffs), ``netctx`` (devices, BPF, modules), ``kernel`` (identity, taint),
``dump`` (assembly), ``live`` (/proc/kcore, QMP).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from gsotriage.errors import InputError
from gsotriage.model import CrashReport

if TYPE_CHECKING:
    from .dump import ParseLog

__all__ = ["collect"]

Progress = Callable[[str], None]


def _require_drgn(what: str) -> None:
    try:
        import drgn  # noqa: F401
    except ImportError:
        raise InputError(f"{what}: analysing dumps needs drgn (pip install drgn)") from None


def collect(
    kind: str,
    path: str,
    *,
    parse_log: ParseLog,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Progress] = None,
) -> CrashReport:
    """Analyse a dump (``kind`` elf | kdump | kdump-flattened), the live kernel
    (``live``, path /proc/kcore) or a QEMU guest (``qmp``, path = the socket) with drgn.

    ``parse_log(text, path)`` is the text parser, handed in by the analysis core
    (the collector does not import its sibling): the kernel log read from the
    dump goes through it, so a dump and its console log are read by the same rules.
    """
    dirs = list(debuginfo or [])
    if kind == "live":
        _require_drgn(path)
        from .live import collect_live

        return collect_live(vmlinux, dirs, parse_log)
    if kind == "qmp":
        _require_drgn(f"qmp:{path}")
        from .live import collect_qmp

        return collect_qmp(path, vmlinux, dirs, parse_log)
    _require_drgn(path)
    return _dump(path, kind, vmlinux, dirs, progress, parse_log)


def _dump(
    path: str,
    fmt: str,
    vmlinux: Optional[str],
    dirs: List[str],
    progress: Optional[Progress],
    parse_log: ParseLog,
) -> CrashReport:
    from .dump import Timer
    from .flattened import FlattenedError, Reassembled, reassemble
    from .program import DumpOpenError, open_dump

    say = progress or (lambda _m: None)
    timer = Timer()
    temp: Optional[Reassembled] = None
    pre_notes: List[str] = []
    try:
        target = path
        if fmt == "kdump-flattened":
            say("reassembling the flattened kdump into a temporary file")
            try:
                temp = reassemble(path, os.environ.get("GSOTRIAGE_TMPDIR"))  # else TMPDIR
            except FlattenedError as exc:
                raise InputError(f"{path}: flattened kdump: {exc}") from None
            except OSError as exc:
                raise InputError(f"{path}: cannot reassemble the flattened kdump: {exc.strerror or exc}") from None
            target = temp.path
            pre_notes.append(temp.note)
            timer.lap("reassemble")
        say("opening the dump")
        try:
            session = open_dump(target)
        except DumpOpenError as exc:
            article = "an" if fmt == "elf" else "a"
            raise InputError(f"{path}: cannot open as {article} {fmt} kernel dump: {exc}") from None
        session.notes.extend(pre_notes)
        timer.lap("open")
        return _analyse(session, path, fmt, vmlinux, dirs, say, timer, pre_notes, progress, parse_log)
    finally:
        if temp is not None:
            temp.close()


def _analyse(
    session: Any,
    path: str,
    fmt: str,
    vmlinux: Optional[str],
    dirs: List[str],
    say: Progress,
    timer: Any,
    pre_notes: List[str],
    progress: Optional[Progress],
    parse_log: ParseLog,
) -> CrashReport:
    """Choose the debug info (DWARF, or the dump's own kallsyms/BTF/ORC), analyse, keep the profile."""
    from .dump import degraded_report, full_report
    from .modes import choose_debug_info

    say("loading debug info")
    try:
        choice = choose_debug_info(session, vmlinux, dirs)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    timer.lap("debuginfo")
    if choice.degraded_why is not None:
        say(f"no debug info: {choice.degraded_why}")
        report = degraded_report(session, path, fmt, choice.degraded_why, parse_log)
        return dataclasses.replace(report, notes=(*report.notes, *pre_notes, *choice.notes))
    report = full_report(session, path, fmt, dirs, parse_log, progress, timer, self_info=choice.self_info)
    notes = [*choice.notes, *choice.keep_profile(session)]
    return dataclasses.replace(report, notes=(*report.notes, *notes))
