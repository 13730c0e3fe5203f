"""The running kernel (/proc/kcore) and QEMU guests over QMP: a report that never
claims a panic (``live=True``); gsotriage.match.exposure turns it into the exposure answer."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence

from gsotriage.errors import InputError
from gsotriage.model import CrashReport, Event, Kernel, Source

from .dump import ParseLog

__all__ = ["collect_live", "collect_qmp"]


def _report(prog: Any, kind: str, path: str, notes: List[str], parse_log: ParseLog) -> CrashReport:
    from .dmesg import dmesg_text
    from .dump import guard, kernel_from_memory, net_context
    from .program import read_vmcoreinfo

    info = read_vmcoreinfo(prog)
    text = guard(notes, "kernel log", lambda: dmesg_text(prog, info, typed=True))
    base = parse_log(text, path) if text else CrashReport(source=Source(kind, path))
    kernel = guard(notes, "kernel identity", lambda: kernel_from_memory(prog, base.kernel)) or base.kernel or Kernel()
    net, modules = net_context(prog, notes)
    # A live kernel has not crashed: keep earlier oopses/WARNs as events, claim no panic.
    events = base.other_events
    if base.panic.kind is not None or base.panic.message:
        events = (*events, _event(base))
    return CrashReport(
        source=Source(kind, path, kind),
        kernel=kernel,
        net=net,
        modules=modules,
        other_events=events,
        notes=tuple([*notes, *base.notes]),
        live=True,
    )


def _event(base: CrashReport) -> Event:
    return Event(
        title=base.panic.message or "oops in the kernel log",
        kind=base.panic.kind,
        function=base.panic.function,
    )


def _load(prog: Any, vmlinux: Optional[str], debuginfo: Sequence[str], notes: List[str]) -> None:
    from .program import DebugInfoMissing, Session, debuginfo_packages, load_kernel_debug_info, parse_vmcoreinfo

    try:
        raw = prog["VMCOREINFO"].string_().decode("utf-8", "replace")
    except Exception:
        raw = ""
    session = Session(prog=prog, path="", vmcoreinfo=parse_vmcoreinfo(raw))
    try:
        load_kernel_debug_info(session, vmlinux, debuginfo)
    except DebugInfoMissing as exc:
        # A live kernel without debug info has nothing to read: say what to install.
        raise DebugInfoMissing(f"{exc}; install {debuginfo_packages(session.release)} or pass --vmlinux FILE") from None
    notes.extend(session.notes)


def collect_live(vmlinux: Optional[str], debuginfo: Sequence[str], parse_log: ParseLog) -> CrashReport:
    """Analyse the running kernel through /proc/kcore (root required)."""
    import drgn

    if not os.path.exists("/proc/kcore"):
        raise InputError(
            "/proc/kcore: this kernel has no /proc/kcore (CONFIG_PROC_KCORE off, or hidden in this container); "
            "analyse a dump or a QEMU guest (qmp:SOCKET) instead"
        )
    if os.geteuid() != 0:
        raise InputError("/proc/kcore: reading the live kernel needs root (run with sudo)")
    prog = drgn.Program()
    try:
        prog.set_kernel()
    except Exception as exc:
        raise InputError(f"/proc/kcore: cannot open the live kernel: {exc}") from None
    return _loaded_report(prog, "live", "/proc/kcore", "live kernel", vmlinux, debuginfo, parse_log)


def collect_qmp(socket_path: str, vmlinux: Optional[str], debuginfo: Sequence[str], parse_log: ParseLog) -> CrashReport:
    """A running QEMU guest over its QMP socket (drgn 0.3: ``Program.set_qemu_qmp``)."""
    import drgn

    prog = drgn.Program()
    setter = getattr(prog, "set_qemu_qmp", None)
    if setter is None:
        raise InputError(f"qmp:{socket_path}: this drgn ({drgn.__version__}) has no Program.set_qemu_qmp; drgn >= 0.3")
    if not os.path.exists(socket_path):
        raise InputError(f"qmp:{socket_path}: no such socket")
    try:
        setter(socket_path)
    except Exception as exc:
        raise InputError(f"qmp:{socket_path}: cannot attach: {exc}") from None
    return _loaded_report(prog, "qmp", f"qmp:{socket_path}", "QEMU guest over QMP", vmlinux, debuginfo, parse_log)


def _loaded_report(
    prog: Any,
    kind: str,
    label: str,
    what: str,
    vmlinux: Optional[str],
    debuginfo: Sequence[str],
    parse_log: ParseLog,
) -> CrashReport:
    """Load debug info into an attached running kernel and read its live report."""
    from .program import DebugInfoMissing

    notes: List[str] = [f"{what}: exposure report, no crash is claimed"]
    try:
        _load(prog, vmlinux, debuginfo, notes)
    except DebugInfoMissing as exc:
        raise InputError(f"{label}: {exc}") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return _report(prog, kind, label, notes, parse_log)
