"""The running kernel (/proc/kcore) and QEMU guests over QMP: exposure, never a panic."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

from gsotriage.model import CrashReport, Kernel, Source

__all__ = ["collect_live", "collect_qmp", "exposure"]


def _report(prog: Any, kind: str, path: str, notes: List[str]) -> CrashReport:
    from gsotriage.parse import parse_text

    from .dmesg import dmesg_text
    from .dump import _guard, _kernel, _net_context
    from .program import _read_vmcoreinfo

    info = _read_vmcoreinfo(prog)
    text = _guard(notes, "kernel log", lambda: dmesg_text(prog, info, typed=True))
    base = parse_text(text, path=path) if text else CrashReport(source=Source(kind, path))
    kernel = _guard(notes, "kernel identity", lambda: _kernel(prog, base.kernel)) or base.kernel or Kernel()
    net, modules = _net_context(prog, notes)
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


def _event(base: CrashReport) -> Any:
    from gsotriage.model import Event

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


def collect_live(vmlinux: Optional[str], debuginfo: Sequence[str]) -> CrashReport:
    """Analyse the running kernel through /proc/kcore (root required)."""
    import drgn

    from gsotriage.inputs import InputError

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
    return _loaded_report(prog, "live", "/proc/kcore", "live kernel", vmlinux, debuginfo)


def collect_qmp(socket_path: str, vmlinux: Optional[str], debuginfo: Sequence[str]) -> CrashReport:
    """A running QEMU guest over its QMP socket (drgn 0.3: ``Program.set_qemu_qmp``)."""
    import drgn

    from gsotriage.inputs import InputError

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
    return _loaded_report(prog, "qmp", f"qmp:{socket_path}", "QEMU guest over QMP", vmlinux, debuginfo)


def _loaded_report(
    prog: Any, kind: str, label: str, what: str, vmlinux: Optional[str], debuginfo: Sequence[str]
) -> CrashReport:
    """Load debug info into an attached running kernel and read its exposure report."""
    from gsotriage.inputs import InputError

    from .program import DebugInfoMissing

    notes: List[str] = [f"{what}: exposure report, no crash is claimed"]
    try:
        _load(prog, vmlinux, debuginfo, notes)
    except DebugInfoMissing as exc:
        raise InputError(f"{label}: {exc}") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return _report(prog, kind, label, notes)


# Evidence kinds that describe the running kernel's configuration (what makes a class
# reachable), as opposed to crash-site evidence a live kernel never has.
_ENVIRONMENT_KINDS = ("netdev_feature", "bpf_programs", "module_loaded", "kernel", "taint")


def _fix_state(states: Sequence[str]) -> str:
    if not states:
        return "no-fix-known"
    if "not-fixed" in states:
        return "not-fixed"
    if all(s == "fixed" for s in states):
        return "fixed"
    if all(s == "no-fix-known" for s in states):
        return "no-fix-known"
    return "unknown"


def exposure(diag: Any) -> Dict[str, Any]:
    """The live report's answer (no crash, so no root cause): per specific signature,
    whether this kernel carries its fix, and which observed devices/BPF/modules make it
    reachable; plus the WARNs/oopses already in the kernel log.

    Pure (no drgn): takes a :class:`gsotriage.match.engine.Diagnosis` of a live report.
    """
    report = diag.report
    sigs = []
    for v in diag.verdicts:
        if v.signature.generic:
            continue
        env = [e for e in v.evidence if e.kind in _ENVIRONMENT_KINDS]
        sigs.append(
            {
                "signature": v.signature.id,
                "fix": _fix_state([f.status.state for f in v.fixes]),
                "fixed_by": [
                    {"commit": f.fix.commit, "this_kernel": f.status.state, "basis": f.status.basis} for f in v.fixes
                ],
                "reachable_by": [{"clause": e.clause, "observed": e.observed} for e in env if e.result.value == "true"],
                "not_reachable_by": [
                    {"clause": e.clause, "observed": e.observed} for e in env if e.result.value == "false"
                ],
            }
        )
    net = report.net
    return {
        "claims_panic": False,
        "kernel_log_events": [
            {"title": ev.title, "kind": ev.kind.value if ev.kind else None, "function": ev.function, "line": ev.line}
            for ev in report.other_events
        ],
        "bpf_programs": None
        if net is None or net.bpf_programs is None
        else [f"{p.name or '?'} ({p.type or '?'}, {p.attach or '?'})" for p in net.bpf_programs],
        "signatures": sigs,
    }
