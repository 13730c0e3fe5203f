"""Turn what the scanners gathered into one :class:`CrashReport`.

Precedence (documented choices):
- Stack: crash ``bt`` frames when a bt was found (the console trace is then
  only noted), else the console's ``Call Trace``.
- Exception function: bt's first ``[exception RIP:]`` (decimal offset), else
  the console ``RIP:``/``pc :`` line (hex), else the headline's (KASAN, WARN).
  It is *not* added as ``frames[0]``: frames are what the trace lists.
- Kernel identity: ``sys`` > ``Linux version`` banner > the fatal event's
  ``CPU:`` line > any ``CPU:`` line > a release stated in a report's prose.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

from gsotriage.kernel.gso import decode_gso_type
from gsotriage.kernel.kdump import dmesg_format
from gsotriage.kernel.panicsite import panic_caller_index
from gsotriage.kernel.release import arch_from_release, distro_version
from gsotriage.kernel.symbols import base_name
from gsotriage.model import (
    CrashReport,
    Frame,
    Kernel,
    NetContext,
    Panic,
    PanicKind,
    SharedInfo,
    Skb,
    Source,
    StackContext,
)

from .console import ConsoleResult
from .crash_bt import BtBlock
from .crash_struct import skb_from_blocks
from .crash_sys import sys_machine, sys_panic_string
from .event import EventBuilder, SkbBuilder
from .guilty import guilty_from_frames, rule_for_kind
from .headlines import CONT, match_headline, match_panic
from .scanner import Scan
from .taint import decode_taint

__all__ = ["NO_CRASH_NOTE", "assemble"]

NO_CRASH_NOTE = "no oops, BUG, WARN or panic found"

_TAG_ORDER = ("timestamps", "caller-id", "printk-level", "syslog", "journal", "dmesg-T", "dmesg-x", "quoted")


def _source(scan: Scan, path: Optional[str], crash_parts: bool) -> Source:
    tags = [t for t in _TAG_ORDER if scan.tags.get(t)]
    name = os.path.basename(path) if path else ""
    fmt = dmesg_format(name)
    if fmt is not None:
        return Source("dmesg", path, "+".join([fmt, *(t for t in tags if t != "timestamps")]))
    if crash_parts:
        # A crash session's own loose lines are its start-up banner (~20 lines).
        loose_limit = 40 if scan.commands else 3
        if scan.loose_lines > loose_limit or (scan.console.events_seen and not scan.commands):
            fmt = "mixed"
        elif scan.commands:
            fmt = "crash-session"
        elif scan.bt.blocks:
            fmt = "crash-bt"
        else:
            fmt = "crash-struct"
        return Source("crash", path, fmt)
    if scan.tags.get("printk-level") and scan.tags.get("timestamps") and not scan.tags.get("syslog"):
        # "<4>[  12.3] ..." is what vmcore-dmesg/makedumpfile write, not a serial console.
        return Source("dmesg", path, "+".join(["kdump-dmesg", *(t for t in tags if t != "timestamps")]))
    return Source("console", path, "+".join(["console", *tags]))


def _decode_skb(fields: Dict[str, object], origin: str) -> Skb:
    def num(key: str) -> Optional[int]:
        value = fields.get(key)
        return value if isinstance(value, int) else None

    length, data_len, headlen = num("len"), num("data_len"), num("headlen")
    if data_len is None and length is not None and headlen is not None:
        data_len = length - headlen
    if headlen is None and length is not None and data_len is not None:
        headlen = length - data_len
    encap = num("encapsulation")
    dev = fields.get("dev")
    return Skb(
        origin=origin,
        len=length,
        data_len=data_len,
        headlen=headlen,
        protocol=num("protocol"),
        encapsulation=None if encap is None else bool(encap),
        ip_summed=num("ip_summed"),
        csum_start=num("csum_start"),
        csum_offset=num("csum_offset"),
        mac_header=num("mac_header"),
        network_header=num("network_header"),
        transport_header=num("transport_header"),
        dev=dev if isinstance(dev, str) else None,
        shinfo=SharedInfo(
            gso_size=num("shinfo_gso_size"),
            gso_segs=num("shinfo_gso_segs"),
            gso_type=num("shinfo_gso_type"),
            nr_frags=num("shinfo_nr_frags"),
        ),
    )


def _with_gso_decode(skb: Skb, release: Optional[str]) -> Skb:
    si = skb.shinfo
    if si.gso_type is None:
        return skb
    flags, table = decode_gso_type(si.gso_type, release)
    return dataclasses.replace(skb, shinfo=dataclasses.replace(si, gso_type_flags=flags, gso_type_table=table))


# The trap handler that crash(8) shows above "[exception RIP: ...]" names the
# kind of exception when neither the PANIC string nor a log headline does.
_TRAP_KIND = (
    (
        ("page_fault_oops", "exc_page_fault", "asm_exc_page_fault", "do_page_fault", "no_context"),
        PanicKind.PAGING_FAULT,
    ),
    (("exc_invalid_op", "asm_exc_invalid_op", "handle_invalid_op", "do_invalid_op"), PanicKind.BUG),
    (("exc_general_protection", "asm_exc_general_protection", "do_general_protection"), PanicKind.GPF),
)


def _kind_from_trap_frames(block: BtBlock) -> Optional[PanicKind]:
    if not block.exceptions:
        return None
    above = {base_name(f.function) for f in block.frames[: block.exceptions[0].position]}
    if "__warn" in above:
        # x86 WARN() traps through the same invalid-opcode handler as BUG().
        return PanicKind.WARN_PANIC if above & {"panic", "nmi_panic", "vpanic"} else PanicKind.WARN
    for names, kind in _TRAP_KIND:
        if above & set(names):
            return kind
    return None


def _kind_from_text(text: str) -> Optional[PanicKind]:
    hm = match_headline(text)
    if hm is not None:
        headline = hm[0]
        return PanicKind.OTHER if headline.klass == CONT else headline.kind
    pm = match_panic(text if "Kernel panic" in text else "Kernel panic - not syncing: " + text)
    if pm is not None and pm[1].kind not in (None, PanicKind.WARN_PANIC):
        return pm[1].kind
    return None


# Exception entry frames: the frame listed right after one is where the CPU
# trapped (arm64 el1h_64_sync, x86 asm_exc_page_fault...), and the frames
# listed before it are the trap handler, which names the kind of fault.
_EXCEPTION_ENTRY = frozenset(
    "el1h_64_sync el1_sync el1h_64_error el1_error asm_exc_page_fault page_fault asm_exc_invalid_op invalid_op "
    "asm_exc_general_protection general_protection handle_exception ret_from_exception".split()
)
_FAULT_HANDLERS = (
    (
        frozenset(
            "do_page_fault __do_page_fault __do_kernel_fault do_translation_fault do_mem_abort el1_abort "
            "exc_page_fault page_fault_oops no_context do_kernel_fault bad_area_nosemaphore".split()
        ),
        PanicKind.PAGING_FAULT,
    ),
    (
        frozenset("do_undefinstr bug_handler brk_handler call_break_hook exc_invalid_op do_invalid_op".split()),
        PanicKind.BUG,
    ),
    (frozenset("exc_general_protection do_general_protection".split()), PanicKind.GPF),
)
_ENTRY_SEARCH = 40


def _site_from_exception_entry(frames: Tuple[Frame, ...]) -> Optional[Tuple[int, Optional[PanicKind]]]:
    """(index of the trapping frame, kind named by the handler above it) for a
    stack that shows an exception entry, else None."""
    real = [i for i, f in enumerate(frames[:_ENTRY_SEARCH]) if not f.questionable]
    for pos, i in enumerate(real):
        if frames[i].function.split(".", 1)[0] in _EXCEPTION_ENTRY and pos + 1 < len(real):
            above = {frames[j].function.split(".", 1)[0] for j in real[:pos]}
            kind = next((k for names, k in _FAULT_HANDLERS if above & names), None)
            return real[pos + 1], kind
    return None


NULL_PAGE = 4096


def _site_from_panic_caller(
    frames: Tuple[Frame, ...], panic: Panic, notes: List[str]
) -> Tuple[Tuple[Frame, ...], Panic]:
    """No exception site (panic() called directly): the caller of panic() is the
    crash site, and the frames above it are the panic machinery."""
    real = [i for i, f in enumerate(frames) if not f.questionable]
    site = panic_caller_index([frames[i].function for i in real])
    if site is None:
        return frames, panic
    index = real[site]
    caller = frames[index]
    notes.append(f"no exception: panic() was called directly by {caller.function}")
    marked = tuple(
        dataclasses.replace(f, context=StackContext.EXCEPTION) if i <= index else f for i, f in enumerate(frames)
    )
    site_panic = dataclasses.replace(
        panic, function=caller.function, offset=caller.offset, size=caller.size, module=caller.module
    )
    return marked, site_panic


def assemble(scan: Scan, path: Optional[str]) -> CrashReport:
    console: ConsoleResult = scan.console.finish()
    fatal: Optional[EventBuilder] = console.fatal
    bt_block = scan.bt.crash_block()
    crash_parts = bool(scan.bt.blocks or scan.sys or scan.structs or scan.prompts)
    notes: List[str] = []

    # ---- kernel identity
    cpu_line = console.cpu_line
    release = (
        scan.sys.get("RELEASE")
        or console.banner_release
        or (fatal.release if fatal else None)
        or (cpu_line.release if cpu_line else None)
    )
    if release is None and scan.prose_release:
        release = scan.prose_release
        notes.append(f"kernel release {release} taken from the report's prose")
    version = (
        scan.sys.get("VERSION")
        or console.banner_version
        or (fatal.version if fatal else None)
        or (cpu_line.version if cpu_line else None)
    )
    distro = distro_version(release, version, console.banner_signature)
    if distro is None and cpu_line is not None:
        distro = distro_version(release, cpu_line.version)
    taint = (fatal.taint if fatal else None) or (cpu_line.taint if cpu_line else None) or console.taint_long
    arch = sys_machine(scan.sys) or (fatal.arch if fatal else None) or arch_from_release(release)

    # ---- the crash site
    exc = bt_block.exceptions[0] if bt_block and bt_block.exceptions else None
    sys_panic = sys_panic_string(scan.sys)
    kind = fatal.kind if fatal else None
    message = fatal.title if fatal else None
    if kind is None and sys_panic:
        kind = _kind_from_text(sys_panic)
        message = message or sys_panic
    if kind in (None, PanicKind.OTHER) and bt_block is not None:
        trap = _kind_from_trap_frames(bt_block)
        if trap is not None:
            kind = trap
            notes.append(f"panic kind {trap.value} inferred from the trap handler frames above the exception")
    if (
        kind is PanicKind.PAGING_FAULT
        and fatal is not None
        and fatal.fault_address is not None
        and fatal.fault_address < NULL_PAGE
    ):
        # x86 words this case itself; arm64 says "read from unreadable memory at ...c0".
        kind = PanicKind.NULL_DEREF
        notes.append(f"fault address {fatal.fault_address:#x} is inside the NULL page: counted as a NULL dereference")
    if fatal is not None and fatal.is_warn and kind is PanicKind.WARN:
        notes.append("the fatal event is a WARN that did not panic")
    if console.headless:
        notes.append("oops headline not shown: the log starts inside the oops report")
    if kind is None and bt_block is not None:
        notes.append("panic kind unknown: crash bt does not name it and no PANIC:/log headline was found")

    function = offset = size = module = None
    if exc is not None and exc.function:
        function, offset, module = exc.function, exc.offset, exc.module
    elif fatal is not None:
        function, offset, size, module = fatal.function, fatal.offset, fatal.size, fatal.module
    cpu: Optional[int]
    pid: Optional[int]
    comm: Optional[str]
    if bt_block is not None and bt_block.pid is not None:
        cpu, pid, comm = bt_block.cpu, bt_block.pid, bt_block.comm
    elif fatal is not None:
        cpu, pid, comm = fatal.cpu, fatal.pid, fatal.comm
    else:
        cpu = pid = None
        comm = None
    panic = Panic(
        kind=kind,
        message=message,
        panic_message=fatal.panic_message if fatal else None,
        fault_address=fatal.fault_address if fatal else None,
        function=function,
        offset=offset,
        size=size,
        module=module,
        inlined=tuple(fatal.inlined) if fatal and function == fatal.function else (),
        bug_file=fatal.bug_file if fatal else None,
        bug_line=fatal.bug_line if fatal else None,
        cpu=cpu,
        pid=pid,
        comm=comm,
    )

    # ---- stack
    frames: Tuple[Frame, ...] = ()
    complete = False
    registers: Dict[str, int] = {}
    if bt_block is not None and bt_block.frames:
        bt_frames, complete, bt_notes = bt_block.build_frames()
        frames = tuple(bt_frames)
        notes.extend(bt_notes)
        if fatal is not None and fatal.frames:
            notes.append("stack taken from crash bt; the console Call Trace was also present")
    elif fatal is not None:
        frames = tuple(fatal.frames)
        # A trace quoted without its "Call Trace:" header is an excerpt: its end is the quoter's choice.
        complete = fatal.frames_complete and not fatal.frames_truncated and not fatal.headerless_trace
        if fatal.frames and not complete:
            notes.append("call trace cut off: frames after the last one shown are unknown")
        if fatal.headerless_trace:
            notes.append('frames read from lines after the headline without a "Call Trace:" header (quoted excerpt)')
    if panic.function is None and frames and bt_block is None:
        entry = _site_from_exception_entry(frames)
        if entry is not None:
            index, trap_kind = entry
            site = frames[index]
            panic = dataclasses.replace(
                panic, function=site.function, offset=site.offset, size=site.size, module=site.module
            )
            notes.append(f"crash site {site.function} read from the stack: the frame the exception entry interrupted")
            if trap_kind is not None and panic.kind in (None, PanicKind.OTHER):
                panic = dataclasses.replace(panic, kind=trap_kind)
                notes.append(f"panic kind {trap_kind.value} inferred from the fault handler frames in the stack")
    if panic.function is None and frames:
        frames, panic = _site_from_panic_caller(frames, panic, notes)
    guilty = fatal.guilty if fatal is not None and bt_block is None else None
    if guilty is None and (panic.function or frames):
        guilty = guilty_from_frames(
            panic.function,
            [f.function for f in frames if not f.questionable and f.context is not StackContext.EXCEPTION],
            rule_for_kind(panic.kind.value if panic.kind else None),
        )
    panic = dataclasses.replace(panic, guilty=guilty)
    if exc is not None and exc.registers:
        registers = dict(exc.registers)
        arch = arch or ("x86_64" if "RAX" in registers else None)
    elif fatal is not None:
        registers = dict(fatal.registers)
        if arch is None and "RAX" in registers:
            arch = "x86_64"

    # ---- skbs
    skbs: List[Skb] = []
    struct_skbs, struct_notes = skb_from_blocks(scan.structs)
    skbs.extend(struct_skbs)
    notes.extend(struct_notes)
    if fatal is not None:
        builders: List[SkbBuilder] = fatal.skbs
        skbs.extend(_decode_skb(b.fields, b.origin) for b in builders)
    skbs = [_with_gso_decode(s, release) for s in skbs]

    # ---- modules
    modules = fatal.modules if fatal and fatal.modules is not None else console.modules
    oot = fatal.oot_modules if fatal and fatal.modules is not None else console.oot_modules
    net = None
    if modules is not None:
        net = NetContext(modules=tuple(modules), out_of_tree_modules=tuple(oot or ()))
        if oot:
            notes.append("out-of-tree modules loaded: " + ", ".join(oot))

    if fatal is None and kind is None and function is None:
        notes.insert(0, NO_CRASH_NOTE)
    limits = [*scan.limits, *console.limits]

    return CrashReport(
        source=_source(scan, path, crash_parts),
        kernel=Kernel(
            release=release,
            version=version,
            distro_version=distro,
            arch=arch,
            taint=taint,
            taint_flags=decode_taint(taint),
            hardware=(fatal.hardware if fatal else None) or console.hardware,
        ),
        panic=panic,
        frames=frames,
        frames_complete=complete,
        registers=registers,
        skbs=tuple(skbs),
        net=net,
        modules=tuple(modules) if modules is not None else None,
        other_events=tuple(console.others),
        notes=tuple(dict.fromkeys(notes)),
        limits=tuple(dict.fromkeys(limits)),
    )
