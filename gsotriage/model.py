"""The one data model: what a crash looked like, as observed.

Both the text parsers (``gsotriage.parse``) and the drgn collector
(``gsotriage.collect``) produce a :class:`CrashReport`; only the matcher and the
renderers consume it.

Every observable is either observed or unknown. Unknown is ``None``. An
observed NULL pointer is ``0``, which JSON renders as ``"0x0"``. A console log
cannot show ``frag_list``, so it stays ``None`` there, never ``0``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = [
    "NATURE",
    "NOT_CALLS",
    "BpfProgram",
    "CrashReport",
    "Event",
    "Frag",
    "FragListMember",
    "Frame",
    "Kernel",
    "NetContext",
    "NetDevice",
    "Panic",
    "PanicKind",
    "SharedInfo",
    "Skb",
    "Source",
    "StackContext",
    "report_from_dict",
    "report_to_dict",
]


class PanicKind(str, enum.Enum):
    NULL_DEREF = "null-deref"
    PAGING_FAULT = "paging-fault"
    BUG = "bug"
    GPF = "gpf"
    WARN = "warn"  # a WARN that did not panic (the fatal event of a log with no oops)
    WARN_PANIC = "warn-panic"
    SOFT_LOCKUP = "soft-lockup"
    HARD_LOCKUP = "hard-lockup"
    HUNG_TASK = "hung-task"
    SYSRQ = "sysrq"
    OOM = "oom"
    MCE = "mce"
    KASAN = "kasan"
    OTHER = "other"
    # Report kinds of the kernel's debugging tools (additive since contract v1):
    STALL = "stall"  # RCU stall, workqueue lockup
    LOCKING = "locking"  # lockdep (deadlock, inconsistent lock state, suspicious RCU usage...), spinlock debug
    MEMORY_LEAK = "memory-leak"  # kmemleak
    UBSAN = "ubsan"
    KMSAN = "kmsan"
    KCSAN = "kcsan"
    KFENCE = "kfence"
    STACK_CORRUPTION = "stack-corruption"  # stack protector, stack overflow / guard page, bad unwinder values
    TRAP = "trap"  # other CPU exceptions: divide error, int3, stack segment, double fault, alignment
    ATOMIC_SLEEP = "atomic-sleep"  # sleeping or scheduling while atomic, per-cpu access while preemptible


class StackContext(str, enum.Enum):
    TASK = "task"
    IRQ = "irq"
    SOFTIRQ = "softirq"
    NMI = "nmi"
    EXCEPTION = "exception"
    USER = "user"  # the user-mode registers a system call or a user-mode interrupt saved


# Frames that are no call of a kernel function: the panic machinery above the exception and the
# user-mode registers at the bottom. Stack matching, buckets and the crash stack leave them out.
NOT_CALLS = frozenset({StackContext.EXCEPTION, StackContext.USER})

# What kind of event a report of each kind is: a fault or failed assertion of the code at
# the site ("fault": memory errors, BUG/WARN, sanitizer reports of a bad access), a data
# race seen by KCSAN ("race"), lock misuse or a CPU/task that stopped making progress
# ("concurrency"), a leak, running out of memory, a hardware error, an operator's
# request. Reports of different natures at one site are different bugs: a KCSAN race
# in vxlan_xmit is not the NULL dereference a signature for vxlan_xmit describes.
# OTHER has no nature (an unrecognised headline says nothing about what happened).
NATURE: Dict[PanicKind, str] = {
    **{
        k: "fault"
        for k in (
            PanicKind.NULL_DEREF,
            PanicKind.PAGING_FAULT,
            PanicKind.GPF,
            PanicKind.KASAN,
            PanicKind.KFENCE,
            PanicKind.KMSAN,
            PanicKind.UBSAN,
            PanicKind.TRAP,
            PanicKind.STACK_CORRUPTION,
            PanicKind.BUG,
            PanicKind.WARN,
            PanicKind.WARN_PANIC,
        )
    },
    PanicKind.KCSAN: "race",
    **{
        k: "concurrency"
        for k in (
            PanicKind.LOCKING,
            PanicKind.ATOMIC_SLEEP,
            PanicKind.SOFT_LOCKUP,
            PanicKind.HARD_LOCKUP,
            PanicKind.HUNG_TASK,
            PanicKind.STALL,
        )
    },
    PanicKind.MEMORY_LEAK: "leak",
    PanicKind.OOM: "out-of-memory",
    PanicKind.MCE: "hardware",
    PanicKind.SYSRQ: "operator",
}

# Field names whose values are kernel addresses: rendered as hex strings in JSON.
_ADDRESS_FIELDS = frozenset(
    {
        "address",
        "fault_address",
        "frag_list",
        "head",
        "data",
        "shinfo_address",
        "dev_address",
        "page",
        "next",
        "clone_partners",
    }
)


@dataclass(frozen=True)
class Source:
    """Where the report came from."""

    kind: str  # console | crash | dmesg | vmcore | live | qmp
    path: Optional[str] = None
    format: Optional[str] = None  # e.g. "elf", "kdump", "kdump-flattened", "vmcore-dmesg"
    degraded: bool = False  # True when a richer source was asked for but not usable


@dataclass(frozen=True)
class Kernel:
    release: Optional[str] = None  # uname -r, e.g. 6.1.0-56-cloud-amd64
    version: Optional[str] = None  # uname -v, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2"
    distro_version: Optional[str] = None  # e.g. "Debian 6.1.192-2"
    arch: Optional[str] = None
    taint: Optional[str] = None  # the raw taint string, e.g. "G           OE"
    taint_flags: Optional[Tuple[str, ...]] = None  # decoded, e.g. ("O", "E")
    hardware: Optional[str] = None


@dataclass(frozen=True)
class Panic:
    kind: Optional[PanicKind] = None
    message: Optional[str] = None  # the headline, e.g. "BUG: kernel NULL pointer dereference, address: ..."
    panic_message: Optional[str] = None  # "Kernel panic - not syncing: ..."
    fault_address: Optional[int] = None
    function: Optional[str] = None  # exception function (RIP / pc), where the CPU trapped or reported
    offset: Optional[int] = None
    size: Optional[int] = None
    module: Optional[str] = None
    # Functions inlined at the crash site, innermost first (the exception RIP is in
    # ``function``'s code, inside these). Empty when not known.
    inlined: Tuple[str, ...] = ()
    bug_file: Optional[str] = None  # "net/core/skbuff.c" for "kernel BUG at ..." and WARNs
    bug_line: Optional[int] = None
    cpu: Optional[int] = None
    pid: Optional[int] = None
    comm: Optional[str] = None
    # The function to blame, chosen the way syzkaller's Linux reporter does: the
    # first frame of the report (trap site first) that is not generic machinery
    # (dump_stack, panic, __warn, kasan_*, memcpy, lock/refcount helpers...);
    # for stalls and hung tasks the frame above the dispatch point. None when
    # the report shows no stack. Often equal to ``function``.
    guilty: Optional[str] = None


@dataclass(frozen=True)
class Frame:
    function: str
    offset: Optional[int] = None
    size: Optional[int] = None
    module: Optional[str] = None
    questionable: bool = False  # the "? " marker: a stale return address found by a stack scan
    context: StackContext = StackContext.TASK
    address: Optional[int] = None
    source: Optional[str] = None  # "file:line" where known
    inline: bool = False


@dataclass(frozen=True)
class Frag:
    size: Optional[int] = None
    offset: Optional[int] = None
    page: Optional[int] = None


@dataclass(frozen=True)
class FragListMember:
    address: Optional[int] = None
    len: Optional[int] = None
    data_len: Optional[int] = None
    headlen: Optional[int] = None
    head_frag: Optional[bool] = None
    nr_frags: Optional[int] = None
    cloned: Optional[bool] = None


@dataclass(frozen=True)
class SharedInfo:
    gso_size: Optional[int] = None
    gso_segs: Optional[int] = None
    gso_type: Optional[int] = None
    gso_type_flags: Optional[Tuple[str, ...]] = None
    # Which definitions decoded gso_type_flags: "dump-enum" (the kernel's own
    # enum, authoritative) or "table:<name> (assumed)".
    gso_type_table: Optional[str] = None
    frag_list: Optional[int] = None
    nr_frags: Optional[int] = None
    dataref: Optional[int] = None
    frags: Optional[Tuple[Frag, ...]] = None
    # Bounded walk of the frag_list chain; None when not walked.
    frag_list_members: Optional[Tuple[FragListMember, ...]] = None
    frag_list_count: Optional[int] = None
    frag_list_truncated: Optional[bool] = None
    shinfo_address: Optional[int] = None


@dataclass(frozen=True)
class Skb:
    address: Optional[int] = None
    # Where it was found: "crash-transcript", "frame #8 skb_segment: head_skb",
    # "register RSI", "stack slot", ...
    origin: str = "unknown"
    len: Optional[int] = None
    data_len: Optional[int] = None
    headlen: Optional[int] = None
    truesize: Optional[int] = None
    protocol: Optional[int] = None
    encapsulation: Optional[bool] = None
    ip_summed: Optional[int] = None
    csum_start: Optional[int] = None
    csum_offset: Optional[int] = None
    mac_header: Optional[int] = None
    network_header: Optional[int] = None
    transport_header: Optional[int] = None
    inner_mac_header: Optional[int] = None
    inner_network_header: Optional[int] = None
    inner_transport_header: Optional[int] = None
    dev: Optional[str] = None
    cloned: Optional[bool] = None
    head_frag: Optional[bool] = None
    pp_recycle: Optional[bool] = None
    head: Optional[int] = None
    data: Optional[int] = None
    shinfo: SharedInfo = field(default_factory=SharedInfo)
    # References held (skb->users): skb_segment_list() returns the skb it was given with one more.
    users: Optional[int] = None
    # Other allocated sk_buffs that are clones of this packet (cloned set, the same headers in
    # another head): read from a dump's slab caches when the path may have uncloned this one.
    # None: not searched (or the search was cut short); (): searched, none.
    clone_partners: Optional[Tuple[int, ...]] = None


@dataclass(frozen=True)
class NetDevice:
    name: str
    kind: Optional[str] = None  # rtnl link kind: vxlan, geneve, veth, ...
    driver: Optional[str] = None
    features: Optional[Tuple[str, ...]] = None  # ethtool names of the active features
    hw_features: Optional[Tuple[str, ...]] = None
    gso_partial_features: Optional[Tuple[str, ...]] = None
    mtu: Optional[int] = None
    tunnel_port: Optional[int] = None
    xdp_prog: Optional[str] = None
    tc_progs: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class BpfProgram:
    name: Optional[str] = None
    type: Optional[str] = None
    tag: Optional[str] = None
    attach: Optional[str] = None  # e.g. "tc ingress eth0"


@dataclass(frozen=True)
class NetContext:
    """What the kernel's network configuration looked like; None fields are unknown."""

    devices: Optional[Tuple[NetDevice, ...]] = None
    bpf_programs: Optional[Tuple[BpfProgram, ...]] = None
    modules: Optional[Tuple[str, ...]] = None
    out_of_tree_modules: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class Event:
    """A non-fatal (or earlier) oops or WARN found beside the fatal one."""

    title: str
    kind: Optional[PanicKind] = None
    function: Optional[str] = None
    line: Optional[int] = None


@dataclass(frozen=True)
class CrashReport:
    source: Source
    kernel: Kernel = field(default_factory=Kernel)
    panic: Panic = field(default_factory=Panic)
    frames: Tuple[Frame, ...] = ()
    # True when the trace is known to be whole (the console's Call Trace block
    # closed, or the collector unwound to the bottom); a frame a truncated
    # trace does not show is unknown, not absent.
    frames_complete: bool = False
    registers: Mapping[str, int] = field(default_factory=dict)
    # The skbs in play, the one being processed at the crash site first.
    skbs: Tuple[Skb, ...] = ()
    net: Optional[NetContext] = None
    modules: Optional[Tuple[str, ...]] = None
    other_events: Tuple[Event, ...] = ()
    notes: Tuple[str, ...] = ()
    live: bool = False  # True for a running kernel: never claims a panic
    # Bounds the analysis ran into (line length cap, decompression cap, time
    # budget, frame cap...), one sentence each. A report with limits is
    # incomplete: what it holds was read, what lies past the bound is unknown.
    # It is never "no crash found".
    limits: Tuple[str, ...] = ()


# --------------------------------------------------------------------------- JSON


def _encode(name: Optional[str], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and name in _ADDRESS_FIELDS:
        return hex(value)
    if isinstance(value, Mapping):
        # Registers: always hex.
        return {k: hex(v) if isinstance(v, int) else v for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_encode(name, v) for v in value]
    return value


def report_to_dict(report: CrashReport) -> dict[str, Any]:
    """Encode a report as plain JSON data (addresses and registers as hex strings)."""
    out = _encode(None, report)
    assert isinstance(out, dict)
    return out


_UNION_TYPE = getattr(types, "UnionType", None)  # Python >= 3.10


def _unwrap_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union or (_UNION_TYPE is not None and origin is _UNION_TYPE):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _decode(tp: Any, name: str, value: Any) -> Any:
    if value is None:
        return None
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(tp, value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if origin is tuple:
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_decode(item, name, v) for v in value)
    if origin in (collections.abc.Mapping, dict):
        return {k: int(v, 16) if isinstance(v, str) else v for k, v in value.items()}
    if tp is int and isinstance(value, str):
        return int(value, 16)
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _decode_dataclass(cls: type, data: Mapping[str, Any]) -> Any:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], f.name, data[f.name])
    return cls(**kwargs)


def report_from_dict(data: Mapping[str, Any]) -> CrashReport:
    """Inverse of :func:`report_to_dict`; unknown keys from newer versions are ignored."""
    report = _decode_dataclass(CrashReport, data)
    assert isinstance(report, CrashReport)
    return report
