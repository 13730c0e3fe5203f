"""The running kernel (/proc/kcore) and QEMU guests over QMP: a report that never
claims a panic (``live=True``); gsotriage.match.exposure turns it into the exposure answer.

A QMP socket is someone else's process and may never answer. drgn's
``set_qemu_qmp`` blocks in C holding the GIL, deaf to signals and threads, so
the socket is first probed here under a timeout (greeting, capabilities), and
the drgn work then runs in a child process the caller can stop: past a stage's
deadline the child is killed and the input is an error naming the stage.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
from typing import Any, Dict, List, Optional, Sequence

from gsotriage.errors import InputError
from gsotriage.model import CrashReport, Event, Kernel, Source, report_from_dict, report_to_dict

from .dump import ParseLog
from .program import lean_drgn_helpers

__all__ = ["QMP_TIMEOUT", "QmpTimeouts", "collect_live", "collect_qmp", "probe_qmp"]

# Seconds: a QMP reply is immediate on a live QEMU; a paused or wedged one never comes.
QMP_TIMEOUT = 10.0


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

    lean_drgn_helpers()

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


class QmpTimeouts:
    """Deadlines of the stages of a QMP analysis, in seconds."""

    def __init__(self, probe: float = QMP_TIMEOUT, attach: float = 30.0, analyse: float = 600.0) -> None:
        self.probe = probe
        self.attach = attach  # drgn connecting and finding the kernel
        self.analyse = analyse  # debug info and the reads of the guest's memory


def _qmp_line(stream: Any, what: str, label: str) -> Dict[str, Any]:
    """The next QMP message that is not an asynchronous event."""
    while True:
        try:
            raw = stream.readline(1 << 20)
        except socket.timeout:
            raise InputError(f"{label}: no {what} within the timeout (is it a QMP socket? is QEMU wedged?)") from None
        if not raw:
            raise InputError(f"{label}: the socket closed before the {what} (another client may be attached)")
        try:
            msg = json.loads(raw)
        except ValueError:
            raise InputError(f"{label}: not a QMP socket (its {what} is not JSON: {raw[:60]!r})") from None
        if isinstance(msg, dict) and "event" not in msg:
            return msg


def probe_qmp(socket_path: str, timeout: float = QMP_TIMEOUT) -> None:
    """Check that ``socket_path`` is a QMP socket that answers: greeting, then qmp_capabilities.

    Raises InputError within about ``timeout`` seconds per step when it does not.
    """
    label = f"qmp:{socket_path}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(socket_path)
        except socket.timeout:
            raise InputError(f"{label}: connecting timed out after {timeout:g}s") from None
        except OSError as exc:
            raise InputError(f"{label}: cannot connect: {exc.strerror or exc}") from None
        stream = sock.makefile("rwb", buffering=0)
        greeting = _qmp_line(stream, "QMP greeting", label)
        if "QMP" not in greeting:
            raise InputError(f"{label}: not a QMP socket (no QMP greeting)")
        try:
            stream.write(b'{"execute": "qmp_capabilities"}\r\n')
        except OSError as exc:
            raise InputError(f"{label}: cannot talk to QMP: {exc.strerror or exc}") from None
        answer = _qmp_line(stream, "answer to qmp_capabilities", label)
        if "return" not in answer:
            raise InputError(f"{label}: QMP refused qmp_capabilities: {answer.get('error')}")
    finally:
        sock.close()


def _attach(socket_path: str) -> Any:
    import drgn

    lean_drgn_helpers()

    prog = drgn.Program()
    try:
        prog.set_qemu_qmp(socket_path)
    except Exception as exc:
        raise InputError(f"qmp:{socket_path}: cannot attach: {exc}") from None
    return prog


def _guest_report(
    prog: Any, socket_path: str, vmlinux: Optional[str], debuginfo: Sequence[str], parse_log: ParseLog
) -> CrashReport:
    return _loaded_report(prog, "qmp", f"qmp:{socket_path}", "QEMU guest over QMP", vmlinux, debuginfo, parse_log)


def _qmp_child(
    conn: Any, socket_path: str, vmlinux: Optional[str], debuginfo: Sequence[str], parse_log: ParseLog
) -> None:
    """In the child: attach, analyse, send the report (or the error) back as plain data."""
    try:
        prog = _attach(socket_path)
        conn.send(("attached", None))
        conn.send(("report", report_to_dict(_guest_report(prog, socket_path, vmlinux, debuginfo, parse_log))))
    except InputError as exc:
        conn.send(("input-error", str(exc)))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _run_with_deadlines(
    socket_path: str, vmlinux: Optional[str], debuginfo: Sequence[str], parse_log: ParseLog, timeouts: QmpTimeouts
) -> CrashReport:
    label = f"qmp:{socket_path}"
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_qmp_child, args=(child, socket_path, vmlinux, list(debuginfo), parse_log), daemon=True)
    proc.start()
    child.close()
    stages = {"attach": ("attaching to the guest", timeouts.attach), "analyse": ("reading the guest", timeouts.analyse)}
    stage = "attach"
    try:
        while True:
            what, limit = stages[stage]
            if not parent.poll(limit):
                raise InputError(f"{label}: no progress within {limit:g}s while {what}; stopped (is QEMU wedged?)")
            try:
                kind, payload = parent.recv()
            except (EOFError, OSError):
                proc.join(5)
                raise InputError(f"{label}: the analysis died while {what} (exit status {proc.exitcode})") from None
            if kind == "attached":
                stage = "analyse"
            elif kind == "report":
                return report_from_dict(payload)
            elif kind == "input-error":
                raise InputError(payload)
            else:
                raise RuntimeError(f"{label}: {payload}")
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def collect_qmp(
    socket_path: str,
    vmlinux: Optional[str],
    debuginfo: Sequence[str],
    parse_log: ParseLog,
    timeouts: Optional[QmpTimeouts] = None,
) -> CrashReport:
    """A running QEMU guest over its QMP socket (drgn 0.3: ``Program.set_qemu_qmp``), under deadlines."""
    import drgn

    limits = timeouts or QmpTimeouts()
    if getattr(drgn.Program, "set_qemu_qmp", None) is None:
        raise InputError(f"qmp:{socket_path}: this drgn ({drgn.__version__}) has no Program.set_qemu_qmp; drgn >= 0.3")
    if not os.path.exists(socket_path):
        raise InputError(f"qmp:{socket_path}: no such socket")
    probe_qmp(socket_path, limits.probe)
    if multiprocessing.current_process().daemon:
        # A daemonic process (a batch worker) may not start children; its parent's --timeout guards it.
        return _guest_report(_attach(socket_path), socket_path, vmlinux, debuginfo, parse_log)
    return _run_with_deadlines(socket_path, vmlinux, debuginfo, parse_log, limits)


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
