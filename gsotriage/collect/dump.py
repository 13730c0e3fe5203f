"""Assemble a CrashReport from an opened kernel dump (full, or degraded without debug info)."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from gsotriage.errors import InputError
from gsotriage.kernel.skbstate import calls_segment_list, path_flags
from gsotriage.model import CrashReport, Kernel, NetContext, Panic, Skb, Source

from .dmesg import dmesg_text
from .program import Session, debuginfo_packages, load_module_debug_info

__all__ = ["ParseLog", "Timer", "degraded_report", "full_report", "guard", "kernel_from_memory", "net_context"]

Progress = Callable[[str], None]
# The text parser (text, path) -> report, handed in by the analysis core.
ParseLog = Callable[[str, str], CrashReport]


class Timer:
    """Per-part timings, reported in notes when ``GSOTRIAGE_TIMINGS=1``."""

    def __init__(self) -> None:
        self.parts: List[Tuple[str, float]] = []
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts.append((name, now - self._t))
        self._t = now

    def notes(self) -> List[str]:
        if os.environ.get("GSOTRIAGE_TIMINGS") != "1":
            return []
        return ["timings: " + ", ".join(f"{n} {s * 1000:.0f} ms" for n, s in self.parts)]


def guard(notes: List[str], what: str, fn: Callable[[], Any]) -> Any:
    """Run one part; a failure becomes a note (corelens style), never a failed report."""
    try:
        return fn()
    except Exception as exc:
        notes.append(f"{what} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return None


def degraded_report(session: Session, source_path: str, fmt: str, why: str, parse_log: ParseLog) -> CrashReport:
    """No debug info: the kernel log from VMCOREINFO alone, through the text parser."""
    notes: List[str] = []
    text = guard(
        notes,
        "kernel log extraction",
        lambda: dmesg_text(session.prog, session.vmcoreinfo, typed=False, path=session.path),
    )
    base = parse_log(text, source_path) if text else CrashReport(source=Source("vmcore", source_path))
    kernel = base.kernel
    if not kernel.release and session.release:
        kernel = dataclasses.replace(kernel, release=session.release)
    lost = (
        f"DEGRADED: {why}. Analysed the kernel log extracted from the dump without debug info: no skb/shinfo "
        f"values, no net context, frames only as the log printed them. Install {debuginfo_packages(session.release)} "
        "(or pass --vmlinux) for the full analysis"
    )
    return dataclasses.replace(
        base,
        source=Source("vmcore", source_path, fmt, degraded=True),
        kernel=kernel,
        notes=(lost, *notes, *base.notes),
    )


def _stack_modules(prog: Any, trace: Any) -> List[Any]:
    mods = []
    for frame in trace:
        try:
            mod = prog.module(int(frame.pc))
        except LookupError:
            continue
        if getattr(mod, "name", "kernel") != "kernel" and mod not in mods:
            mods.append(mod)
    return mods


def full_report(
    session: Session,
    source_path: str,
    fmt: str,
    debuginfo: Sequence[str],
    parse_log: ParseLog,
    progress: Optional[Progress] = None,
    timer: Optional[Timer] = None,
    self_info: Any = None,
) -> CrashReport:
    """Everything: panic context, stack, skbs, net context.

    Kernel debug info is loaded: DWARF, or with ``self_info`` (a
    :class:`gsotriage.collect.selfinfo.SelfInfo`) the dump's own kallsyms, BTF and ORC.
    """
    prog = session.prog
    timer = timer or Timer()
    say = progress or (lambda _m: None)
    notes: List[str] = list(session.notes)

    if self_info is None:
        guard(notes, "loaded modules", lambda: list(prog.loaded_modules()))
        guard(notes, "module kallsyms", lambda: _register_module_kallsyms(prog))
    else:
        notes.append(self_info.sources_note())
        notes.extend(self_info.notes)
    timer.lap("modules")

    say("reading the kernel log")
    text = guard(notes, "kernel log", lambda: dmesg_text(prog, session.vmcoreinfo, typed=True, path=session.path))
    base = parse_log(text, source_path) if text else CrashReport(source=Source("vmcore", source_path))
    timer.lap("dmesg+parse")

    say("unwinding the crashed thread")
    from .stack import unwind

    thread = guard(notes, "crashed thread", prog.crashed_thread)
    cpu = guard(notes, "panic cpu", lambda: _panic_cpu(prog))
    info = None
    if thread is not None:
        info = guard(notes, "stack unwind", lambda: unwind(prog, thread, cpu))
        if info is not None and info.trace is not None:
            mods = _stack_modules(prog, info.trace) if self_info is None else []
            missing = load_module_debug_info(session, mods, debuginfo) if mods else []
            if len(missing) < len(mods):
                info = guard(notes, "stack unwind (with module debug info)", lambda: unwind(prog, thread, cpu)) or info
            for name in missing:
                notes.append(
                    f"module {name}: no debug info (pass its .ko with --debuginfo DIR); its frames are named from "
                    "kallsyms"
                )
    timer.lap("stack")
    if text is None and thread is None:
        first = next((n for n in notes if n.startswith("crashed thread failed")), "unreadable memory")
        raise InputError(
            f"{source_path}: the dump's memory is unreadable (truncated or corrupt?): neither the kernel log nor "
            f"the crashed thread could be read ({first.split(': ', 1)[-1][:200]})"
        )

    say("looking for the skbs")
    skbs: Tuple[Skb, ...] = ()
    if info is not None:
        skbs = guard(notes, "skb search", lambda: _find_skbs(prog, info, session.release, notes)) or ()
    timer.lap("skbs")

    say("reading the network context")
    net, modules = net_context(prog, notes)
    timer.lap("net")

    kernel = guard(notes, "kernel identity", lambda: kernel_from_memory(prog, base.kernel)) or base.kernel
    panic = _panic(base.panic, info, thread, cpu)
    frames = tuple(info.frames) if info is not None and info.frames else base.frames
    if info is not None and info.frames:
        frames_complete = info.frames_complete
    else:
        frames_complete = base.frames_complete
        notes.append("frames taken from the kernel log (the dump's stack could not be unwound)")
    if info is not None:
        notes.extend(info.notes)
    if skbs:
        provisional = dataclasses.replace(base, panic=panic, frames=frames, skbs=skbs)
        skbs = guard(notes, "clone-partner search", lambda: _with_clone_partners(prog, provisional, notes)) or skbs
        timer.lap("partners")
    if self_info is not None and self_info.globals_missing:
        notes.append("globals without a known type (not read): " + ", ".join(sorted(self_info.globals_missing)[:20]))
    timer.lap("assemble")
    notes.extend(timer.notes())
    return dataclasses.replace(
        base,
        source=Source("vmcore", source_path, fmt),
        kernel=kernel,
        panic=panic,
        frames=frames,
        frames_complete=frames_complete,
        registers=dict(info.registers) if info is not None and info.registers else dict(base.registers),
        skbs=skbs,
        net=net,
        modules=modules if modules is not None else base.modules,
        notes=tuple(_dedupe([*notes, *base.notes])),
    )


# Seconds the clone-partner walk may take: the struct page array of a small VM is read in
# tens of milliseconds; on a machine with hundreds of GB it is cut short and says so.
_PARTNER_BUDGET = 3.0


def _with_clone_partners(prog: Any, report: CrashReport, notes: List[str]) -> Tuple[Skb, ...]:
    """The skbs, the subject with its clone partners when the path may have uncloned it
    (gsotriage.kernel.skbstate): its entry ``cloned`` is then in another sk_buff."""
    from gsotriage.kernel.skbstate import rewrites

    from .partners import clone_partners

    subject = report.skbs[0]
    if subject.cloned is not False or "cloned" not in rewrites(report).changes:
        return report.skbs
    found = clone_partners(prog, subject, _PARTNER_BUDGET, notes)
    return (dataclasses.replace(subject, clone_partners=found), *report.skbs[1:])


def _dedupe(items: List[str]) -> List[str]:
    seen = set()
    out = []
    for i in items:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def _register_module_kallsyms(prog: Any) -> None:
    from drgn.helpers.linux.kallsyms import load_module_kallsyms

    index = load_module_kallsyms(prog)
    prog.register_symbol_finder("gsotriage_module_kallsyms", index, enable_index=-1)


def _panic_cpu(prog: Any) -> Optional[int]:
    from .kernel import panic_cpu

    return panic_cpu(prog)


def kernel_from_memory(prog: Any, base: Kernel) -> Kernel:
    from .kernel import kernel_identity, taint_string

    release, version, machine, distro = kernel_identity(prog)
    taint, flags = taint_string(int(prog["tainted_mask"].value_()))
    return dataclasses.replace(
        base,
        release=release or base.release,
        version=version or base.version,
        distro_version=distro or base.distro_version,
        arch=machine or base.arch,
        taint=taint,
        taint_flags=flags,
    )


def _panic(base: Panic, info: Any, thread: Any, cpu: Optional[int]) -> Panic:
    changes: Dict[str, Any] = {}
    if info is not None and info.function:
        changes.update(
            function=info.function,
            offset=info.offset,
            size=info.size,
            module=info.module,
            inlined=tuple(info.inlined),
        )
    if cpu is not None:
        changes["cpu"] = cpu
    if thread is not None:
        try:
            changes["pid"] = int(thread.tid)
            changes["comm"] = thread.object.comm.string_().decode("utf-8", "replace")
        except Exception:  # noqa: S110
            pass
    return dataclasses.replace(base, **changes)


def _find_skbs(prog: Any, info: Any, release: Optional[str], notes: List[str]) -> Tuple[Skb, ...]:
    from .skb import SkbFinder, decode_skb

    finder = SkbFinder(prog)
    frames = list(info.trace)
    start = info.exception_index if info.exception_index is not None else 0
    finder.from_frames([(i, frames[i]) for i in range(start, len(frames))])
    if not any(s for _, _, s in finder.found.values()):
        # Optimised-out locals: exception registers, then the stack between the exception and the bottom.
        finder.from_registers(info.registers)
        rsp = info.registers.get("RSP")
        if rsp is not None and frames:
            finder.from_stack(rsp, int(frames[-1].sp))
    names = [f.name or "" for f in frames[start:]]
    flags, _facts, _seen = path_flags(names[:1], names[1:])
    found = finder.ordered(list_path=calls_segment_list(flags))
    if not found:
        notes.append("no sk_buff found in the crashed thread's frames, registers or stack")
    return tuple(decode_skb(prog, obj, origin, release, notes) for origin, obj in found)


def net_context(prog: Any, notes: List[str]) -> Tuple[Optional[NetContext], Optional[Tuple[str, ...]]]:
    from .netctx import bpf_programs, modules, net_devices

    devices = guard(notes, "net devices", lambda: net_devices(prog, notes))
    progs = guard(notes, "BPF programs", lambda: bpf_programs(prog, devices or ()))
    mods = guard(notes, "modules", lambda: modules(prog))
    names, oot = mods if mods is not None else (None, None)
    if oot:
        notes.append(f"out-of-tree modules loaded: {', '.join(oot)}")
    return NetContext(devices=devices, bpf_programs=progs, modules=names, out_of_tree_modules=oot), names
