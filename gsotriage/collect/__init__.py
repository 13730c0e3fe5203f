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
from typing import Any, Callable, List, Optional

from gsotriage.model import CrashReport

__all__ = ["collect"]

Progress = Callable[[str], None]


def _require_drgn(what: str) -> None:
    from gsotriage.inputs import InputError

    try:
        import drgn  # noqa: F401
    except ImportError:
        raise InputError(f"{what}: analysing dumps needs drgn (pip install drgn)") from None


def collect(
    kind: Any,
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Progress] = None,
) -> CrashReport:
    """Analyse ``kind`` (an :class:`gsotriage.inputs.InputKind`) with drgn."""
    dirs = list(debuginfo or [])
    if kind.kind == "live":
        _require_drgn(kind.path)
        from .live import collect_live

        return collect_live(vmlinux, dirs)
    if kind.kind == "qmp":
        _require_drgn(f"qmp:{kind.path}")
        from .live import collect_qmp

        return collect_qmp(kind.path, vmlinux, dirs)
    if kind.kind == "crash-dir":
        return _crash_dir(kind, vmlinux, dirs, progress)
    _require_drgn(kind.path)
    return _dump(kind.path, kind.kind, vmlinux, dirs, progress)


def _dump(path: str, fmt: str, vmlinux: Optional[str], dirs: List[str], progress: Optional[Progress]) -> CrashReport:
    from gsotriage.inputs import InputError

    from .dump import Timer, degraded_report, full_report
    from .flattened import FlattenedError, reassemble
    from .program import DebugInfoMissing, DumpOpenError, load_kernel_debug_info, open_dump

    say = progress or (lambda _m: None)
    timer = Timer()
    temp: Optional[str] = None
    pre_notes: List[str] = []
    try:
        target = path
        if fmt == "kdump-flattened":
            say("reassembling the flattened kdump into a temporary file")
            try:
                temp, note = reassemble(path, os.environ.get("GSOTRIAGE_TMPDIR"))
            except FlattenedError as exc:
                raise InputError(f"{path}: flattened kdump: {exc}") from None
            except OSError as exc:
                raise InputError(f"{path}: cannot reassemble the flattened kdump: {exc.strerror or exc}") from None
            target = temp
            if note:
                pre_notes.append(note)
            timer.lap("reassemble")
        say("opening the dump")
        try:
            session = open_dump(target)
        except DumpOpenError as exc:
            article = "an" if fmt == "elf" else "a"
            raise InputError(f"{path}: cannot open as {article} {fmt} kernel dump: {exc}") from None
        session.notes.extend(pre_notes)
        timer.lap("open")
        say("loading debug info")
        try:
            load_kernel_debug_info(session, vmlinux, dirs)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        except DebugInfoMissing as exc:
            say(f"no debug info: {exc}")
            report = degraded_report(session, path, fmt, str(exc))
            return dataclasses.replace(report, notes=(*report.notes, *pre_notes))
        timer.lap("debuginfo")
        return full_report(session, path, fmt, dirs, progress, timer)
    finally:
        if temp:
            try:
                os.unlink(temp)
            except OSError:
                pass


def _crash_dir(kind: Any, vmlinux: Optional[str], dirs: List[str], progress: Optional[Progress]) -> CrashReport:
    """kdump crash directory: the dump, cross-checked with (or falling back to) the dmesg file."""
    from gsotriage.inputs import InputError, detect
    from gsotriage.parse import decode_bytes, parse_text

    dmesg_report = None
    if kind.dmesg:
        try:
            with open(kind.dmesg, "rb") as f:
                dmesg_report = parse_text(decode_bytes(f.read()), path=kind.dmesg)
        except OSError:
            dmesg_report = None
    if kind.dump:
        try:
            sub = detect(kind.dump)
            if sub.kind not in ("elf", "kdump", "kdump-flattened"):
                raise InputError(f"{kind.dump}: not a kernel dump ({sub.kind})")
            _require_drgn(kind.dump)
            report = _dump(kind.dump, sub.kind, vmlinux, dirs, progress)
        except InputError as exc:
            if dmesg_report is None:
                raise
            return dataclasses.replace(
                dmesg_report,
                source=dataclasses.replace(dmesg_report.source, degraded=True),
                notes=(f"the dump could not be analysed ({exc}); analysed {kind.dmesg} instead", *dmesg_report.notes),
            )
        if dmesg_report is not None:
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
