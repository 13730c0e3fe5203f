"""The crashed thread's stack: the exception site, the frames below it, the registers.

drgn unwinds from the CPU state saved in the dump (kexec crash notes, or for
QEMU dumps the NT_PRSTATUS of the panicking CPU in panic()'s halt loop) up
through panic()/oops_end()/asm_exc_page_fault and across the ``pt_regs`` of the
exception into the function that faulted, as crash(8) ``bt`` does. Frames are
laid out like crash's: the frames above the exception are the panic machinery
(context ``exception``), the faulting function is ``Panic.function`` (its
[exception RIP]) and ``frames`` starts with its caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from gsotriage.kernel.panicsite import panic_caller_index
from gsotriage.model import Frame, StackContext

__all__ = ["StackInfo", "unwind"]

# The bottom of a kernel stack: when the unwind ends here, the trace is complete.
_BOTTOM = frozenset(
    "ret_from_fork ret_from_fork_asm entry_SYSCALL_64_after_hwframe entry_SYSCALL_64 "
    "secondary_startup_64 secondary_startup_64_no_verify common_startup_64 x86_64_start_kernel "
    "x86_64_start_reservations start_kernel cpu_startup_entry rest_init".split()
)
_SOFTIRQ_ENTRY = frozenset({"__do_softirq", "handle_softirqs", "do_softirq_own_stack", "run_ksoftirqd"})
_THREAD_SIZE = 16384  # x86_64 default (KASAN doubles it; only used as a fallback)


@dataclass
class StackInfo:
    """What the unwind found; drgn objects stay out of it except ``trace``."""

    trace: Any = None  # the drgn.StackFrames the unwind vouches for (see _vouched)
    exception_index: Optional[int] = None  # index of the interrupted frame group's first frame
    function: Optional[str] = None
    offset: Optional[int] = None
    size: Optional[int] = None
    module: Optional[str] = None
    inlined: List[str] = field(default_factory=list)  # inlined at the crash site, innermost first
    pc: Optional[int] = None
    frames: List[Frame] = field(default_factory=list)
    frames_complete: bool = False
    registers: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    # For the skb finder: drgn frames below the exception (callee first), with their index.
    below: List[Tuple[int, Any]] = field(default_factory=list)
    module_names: List[str] = field(default_factory=list)  # modules seen on the stack


def _symbol(prog: Any, pc: int, interrupted: bool) -> Any:
    """The symbol for a pc; return addresses are looked up at pc - 1 (calls to noreturn functions)."""
    address = pc if interrupted else pc - 1
    if address <= 0:
        return None
    try:
        return prog.symbol(address)
    except (LookupError, OverflowError):
        return None


# Architectures whose kernel lives in the upper half of the address space: a pc
# with the top bit clear is a user-mode address there.
_UPPER_HALF_KERNEL = frozenset({"X86_64", "AARCH64", "PPC64", "RISCV64"})


def _kernel_pc(prog: Any, pc: int) -> bool:
    try:
        arch = prog.platform.arch.name
    except Exception:
        arch = ""
    return bool(pc >> 63) if arch in _UPPER_HALF_KERNEL else pc != 0


def _vouched(prog: Any, frames: List[Any], notes: List[str]) -> List[Any]:
    """The frames of the kernel stack, cut where the unwind leaves it.

    A frame unwound from a system call's or a user-mode interrupt's ``pt_regs`` carries the
    user-mode pc: it is kept as the stack's last frame, and what drgn unwinds past it (user
    memory read with kernel unwind tables) is not a stack. A return address that is not a
    kernel address (0, seen when the unwinder read a stack page the dump lacks) ends the
    frames the unwind can vouch for; the ones below it are unknown, and a note says so."""
    for i, f in enumerate(frames):
        pc = int(f.pc)
        if _kernel_pc(prog, pc):
            continue
        if f.interrupted or i == 0:
            return frames[: i + 1]
        notes.append(
            f"the unwind stopped at frame #{i}: return address {pc:#x} is not a kernel address (a stack page "
            "the dump lacks, or a corrupt stack); the frames below it are unknown"
        )
        return frames[:i]
    return frames


def _module_name(prog: Any, pc: int) -> Optional[str]:
    try:
        mod = prog.module(pc)
    except LookupError:
        return None
    name = getattr(mod, "name", None)
    return None if name in (None, "kernel") else str(name)


def _source(frame: Any) -> Optional[str]:
    try:
        filename, line, _col = frame.source()
    except (LookupError, ValueError):
        return None
    return f"{filename}:{line}"


def _task_stack(prog: Any, thread: Any) -> Optional[Tuple[int, int]]:
    try:
        task = thread.object
        base = int(task.stack.value_())
    except Exception:
        return None
    size = _THREAD_SIZE
    try:
        size = int(prog["THREAD_SIZE"].value_())
    except Exception:  # noqa: S110
        pass
    return base, base + size


def _irq_stack(prog: Any, cpu: Optional[int]) -> Optional[Tuple[int, int]]:
    """The hardirq stack of ``cpu`` (x86_64): 6.1 has per-cpu ``hardirq_stack_ptr``, 6.2+ ``pcpu_hot``."""
    if cpu is None:
        return None
    from drgn.helpers.linux.percpu import per_cpu

    for getter in (
        lambda: per_cpu(prog["pcpu_hot"], cpu).hardirq_stack_ptr,
        lambda: per_cpu(prog["hardirq_stack_ptr"], cpu),
    ):
        try:
            top = int(getter().value_())
        except Exception:  # noqa: S112
            continue
        if top:
            # hardirq_stack_ptr points at the top (minus 8) of an IRQ_STACK_SIZE (16K) stack.
            return top + 8 - _THREAD_SIZE, top + 8
    return None


def _find_exception(prog: Any, frames: List[Any]) -> Optional[int]:
    """Index of the first frame of the interrupted group below the top: a pt_regs
    boundary in kernel mode. The pt_regs of a system call (user-mode RIP) at the
    bottom of the stack is not an exception."""
    for i in range(1, len(frames)):
        if frames[i].interrupted and frames[i].pc != frames[i - 1].pc and _kernel_pc(prog, int(frames[i].pc)):
            return i
    return None


def unwind(prog: Any, thread: Any, cpu: Optional[int]) -> StackInfo:
    """Unwind ``thread`` (a drgn.Thread) into frames laid out like crash(8) ``bt``."""
    info = StackInfo()
    frames = _vouched(prog, list(thread.stack_trace()), info.notes)
    info.trace = frames
    if not frames:
        info.notes.append("the crashed thread's stack trace is empty")
        return info
    exc = _find_exception(prog, frames)
    start = 0
    if exc is not None:
        info.exception_index = exc
        # The interrupted physical frame: inline frames first, then the real function.
        end = exc
        while end < len(frames) - 1 and frames[end].is_inline:
            end += 1
        phys = frames[end]
        pc = int(phys.pc)
        info.pc = pc
        sym = _symbol(prog, pc, True)
        info.module = _module_name(prog, pc)
        if sym is not None:
            info.function, info.offset, info.size = sym.name, pc - sym.address, sym.size
        else:
            info.function = phys.name or f"0x{pc:x}"
        info.inlined = [str(f.name) for f in frames[exc:end] if f.name]
        inlined = [f"{f.name} ({_source(f) or '?'})" for f in frames[exc:end]]
        if inlined:
            info.notes.append(
                f"crash site {info.function}+{info.offset or 0:#x} ({_source(phys) or '?'}) is inside inlined "
                + " <- ".join(inlined)
            )
        try:
            regs = phys.registers()
            info.registers = {k.upper(): int(v) for k, v in regs.items()}
        except Exception as exc_:
            info.notes.append(f"registers at the exception unavailable: {exc_}")
        start = end + 1
        for i in range(exc):
            info.frames.append(_frame(prog, frames[i], StackContext.EXCEPTION))
    else:
        site = panic_caller_index([f.name or "" for f in frames])
        if site is None:
            info.notes.append(
                "no exception frame and no panic() call on the crashed thread's stack: the frames start at its top"
            )
        else:
            # panic() called directly (sysrq, watchdogs, OOM): the caller is the crash site.
            phys = frames[site]
            pc = int(phys.pc)
            sym = _symbol(prog, pc, bool(phys.interrupted))
            info.module = _module_name(prog, pc)
            if sym is not None:
                info.function, info.offset, info.size = sym.name, pc - sym.address, sym.size
            else:
                info.function = phys.name or f"0x{pc:x}"
            info.notes.append(f"no exception: panic() was called directly by {info.function}")
            for i in range(site):
                info.frames.append(_frame(prog, frames[i], StackContext.EXCEPTION))
            start = site + 1
    task_range = _task_stack(prog, thread)
    irq_range = _irq_stack(prog, cpu)
    ctxs = [
        _context(int(f.sp), task_range, irq_range) if _kernel_pc(prog, int(f.pc)) else StackContext.USER for f in frames
    ]
    # Frames above a softirq entry ran in softirq context, whichever stack they are
    # on: an interrupt taken in user mode runs its handler and the softirqs of
    # irq_exit() on the task stack (x86-64 run_sysvec_on_irqstack_cond() switches
    # stacks only for interrupts taken in kernel mode).
    softirq_from: Optional[int] = None
    for i, f in enumerate(frames):
        if ctxs[i] in (StackContext.IRQ, StackContext.TASK) and f.name in _SOFTIRQ_ENTRY:
            softirq_from = i
            break
    for i in range(start, len(frames)):
        f = frames[i]
        ctx = ctxs[i]
        if ctx in (StackContext.IRQ, StackContext.TASK) and softirq_from is not None and i <= softirq_from:
            ctx = StackContext.SOFTIRQ
        info.frames.append(_frame(prog, f, ctx))
        info.below.append((i, f))
    for fr in info.frames:
        if fr.module and fr.module not in info.module_names:
            info.module_names.append(fr.module)
    if info.module and info.module not in info.module_names:
        info.module_names.append(info.module)
    # Complete when the unwind reached the bottom of the task's stack. Below it
    # there may be user-mode registers of a system call, or (seen on ELF dumps of
    # a crash in softirq over a task in execve) a frame or two of garbage.
    info.frames_complete = any(_is_bottom(prog, f) for f in reversed(frames) if _kernel_pc(prog, int(f.pc)))
    return info


def _is_bottom(prog: Any, frame: Any) -> bool:
    if (frame.name or "") in _BOTTOM:
        return True
    sym = _symbol(prog, int(frame.pc), bool(frame.interrupted))
    return sym is not None and getattr(sym, "name", "") in _BOTTOM


def _context(sp: int, task: Optional[Tuple[int, int]], irq: Optional[Tuple[int, int]]) -> StackContext:
    if task is None or task[0] <= sp < task[1]:
        return StackContext.TASK
    if irq is not None and irq[0] <= sp < irq[1]:
        return StackContext.IRQ
    return StackContext.EXCEPTION


def _frame(prog: Any, f: Any, ctx: StackContext) -> Frame:
    """:param f: drgn.StackFrame."""
    pc = int(f.pc)
    interrupted = bool(f.interrupted)
    sym = _symbol(prog, pc, interrupted)
    module = _module_name(prog, pc)
    if f.is_inline:
        # An inlined call has no symbol of its own: name from DWARF, no offset.
        return Frame(function=str(f.name), module=module, context=ctx, address=pc, source=_source(f), inline=True)
    if sym is not None:
        name, offset, size = sym.name, pc - sym.address, sym.size
    else:
        name, offset, size = (f.name or f"0x{pc:x}"), None, None
    return Frame(
        function=str(name), offset=offset, size=size, module=module, context=ctx, address=pc, source=_source(f)
    )
