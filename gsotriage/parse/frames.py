"""Console stack-trace lines: frames, context markers, the exception PC line.

Every accepted frame shape is one regex in ``FRAME_SHAPES``. Frames are only
looked for inside a ``Call Trace:`` block, so prose cannot produce frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Pattern, Tuple

from gsotriage.model import Frame, StackContext

__all__ = ["FRAME_SHAPES", "PcLine", "match_frame", "match_marker", "match_pc_line", "match_trace_start"]

_FN = r"(?P<func>[A-Za-z_.$][\w.$]*)"
_OFF = r"\+0x(?P<off>[0-9a-f]+)(?:/0x(?P<size>[0-9a-f]+))?"
_MOD = r"(?:\s+\[(?P<mod>[\w-]+)\])?"
_SRC = r"(?P<src>[\w./+-]+\.[chS]:\d+)"

FRAME_SHAPES: Tuple[Tuple[str, Pattern[str]], ...] = (
    # syzkaller-symbolised inline frame: "__skb_frag_ref include/linux/skbuff.h:3400 [inline]"
    ("inline", re.compile(rf"^(?P<q>\? )?{_FN} {_SRC} \[inline\]$")),
    # 3.x/4.x: "[<ffffffff8155a2b2>] ? skb_segment+0x24c/0xf40 [mod]"; s390 puts
    # the PSW's frame in parentheses: "([<000003ff8030e31a>] skb_segment+0x1fa/0x9e0)".
    ("address", re.compile(rf"^\(?\[<(?P<addr>[0-9a-f]+)>\]\s+(?P<q>\? )?{_FN}{_OFF}{_MOD}\)?\s*$")),
    # powerpc: "[c00000000f0e3a40] [c0000000000e2d14] __warn+0xa4/0x180 (unreliable)".
    (
        "powerpc",
        re.compile(rf"^\[[0-9a-f]+\] \[(?P<addr>[0-9a-f]+)\] {_FN}{_OFF}{_MOD}(?P<unreliable> \(unreliable\))?\s*$"),
    ),
    # arm: "[<c0110c5c>] (unwind_backtrace) from [<c010cbc0>] (show_stack+0x20/0x24)";
    # the line names the callee first.
    ("arm", re.compile(rf"^\[<(?P<addr>[0-9a-f]+)>\] \({_FN}(?:{_OFF})?{_MOD}\) from \[<[0-9a-f]+>\] \(")),
    # arm since 6.1 (arm's unwinder rework): "kmem_cache_alloc from __skb_ext_alloc+0x18/0x30".
    ("arm-from", re.compile(rf"^{_FN}(?:{_OFF})?{_MOD} from [A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+")),
    # "? skb_segment+0x24c/0xf40 [mod]", optionally "net/core/skbuff.c:4315" (syzkaller)
    # A reporter's arrow after a frame ("__dev_queue_xmit+0x10f8/0x2320 <---") is not part of it.
    ("plain", re.compile(rf"^(?P<q>\? )?{_FN}{_OFF}{_MOD}(?:\s+{_SRC})?(?:\s+<-+.*)?\s*$")),
    # decode_stacktrace.sh: "skb_segment (net/core/skbuff.c:4315)"; inlined code
    # shows the chain innermost first: "(include/linux/skbuff.h:123 net/core/skbuff.c:456)".
    (
        "decoded",
        re.compile(
            rf"^(?P<q>\? )?{_FN}(?:{_OFF})?(?: \[(?P<mod1>[\w-]+)\])?"
            r" \((?P<srcs>(?:[^()]|\([^()]*\))*)\)(?: \[(?P<mod2>[\w-]+)\])?$"
        ),
    ),
    # The same, its location list cut by a mail wrap: "validate_xmit_skb (./include/linux/netdevice.h:4862"
    # (the rest of the list follows on the next line, which the trace scanner skips).
    (
        "decoded-wrapped",
        re.compile(rf"^(?P<q>\? )?{_FN}(?:{_OFF})? \((?P<srcs>[\w./+-]+\.[chS]:\d+(?: \(discriminator \d+\))?)$"),
    ),
)

_DECODED_LOC = re.compile(r"(?:\./)?([\w./+-]+\.[chS]:\d+)")

# "<IRQ>", "</IRQ>", "<TASK>", "<NMI>", "<SOFTIRQ>", 4.x "<EOI>", "<<EOE>>", "<#DF>".
_MARKER = re.compile(r"^<(?P<close>/)?<?(?P<name>IRQ|TASK|NMI|SOFTIRQ|EOI|EOE|#?[A-Z]{2,3})>>?\s*")
_MARKER_CONTEXT = {
    "IRQ": StackContext.IRQ,
    "SOFTIRQ": StackContext.SOFTIRQ,
    "NMI": StackContext.NMI,
    "TASK": StackContext.TASK,
}
# 4.x "<EOI>" / "<<EOE>>": the IRQ/exception stack ended, the task's follows
# (with no closing marker to wait for).
_BACK_TO_TASK = frozenset({"EOI", "EOE"})

_TRACE_START = re.compile(
    r"^(?:(?:Call Trace|Call trace|Backtrace|Stack trace)\s*:"
    # riscv show_regs() ends with this line and prints the frames right after it.
    r"|status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}$)\s*(?P<rest>.*)$"
)


def match_trace_start(line: str) -> Optional[str]:
    """``Call Trace:`` (x86) / ``Call trace:`` (arm64) -> what follows on the line."""
    m = _TRACE_START.match(line)
    return m.group("rest") if m else None


def match_marker(line: str) -> Optional[tuple[str, StackContext, str]]:
    """-> (action, context, rest of line) for a stack context marker; action is
    "open", "close" or "reset" (back on the task stack, nothing left open)."""
    m = _MARKER.match(line)
    if not m:
        return None
    name = m.group("name")
    if name in _BACK_TO_TASK:
        return "reset", StackContext.TASK, line[m.end() :]
    context = _MARKER_CONTEXT.get(name, StackContext.EXCEPTION)
    return ("close" if m.group("close") else "open"), context, line[m.end() :]


def _int16(text: Optional[str]) -> Optional[int]:
    return int(text, 16) if text is not None else None


def match_frame(line: str, context: StackContext) -> Optional[Frame]:
    for shape, pattern in FRAME_SHAPES:
        m = pattern.match(line)
        if not m:
            continue
        groups = m.groupdict()
        source = groups.get("src")
        module = groups.get("mod") or groups.get("mod1") or groups.get("mod2")
        if shape == "decoded":
            # Keep the outermost location: the line in the named function itself.
            locations = _DECODED_LOC.findall(groups["srcs"] or "")
            if not locations:
                return None
            source = locations[-1]
        return Frame(
            function=groups["func"],
            offset=_int16(groups.get("off")),
            size=_int16(groups.get("size")),
            module=module,
            questionable=groups.get("q") is not None or groups.get("unreliable") is not None,
            context=context,
            address=_int16(groups.get("addr")),
            source=source,
            inline=shape == "inline",
        )
    return None


@dataclass(frozen=True)
class PcLine:
    function: str
    offset: Optional[int]
    size: Optional[int]
    module: Optional[str]
    arch: str


_PC_LINES: Tuple[Tuple[str, Pattern[str]], ...] = (
    # "RIP: 0010:skb_segment+0x24c/0xf40 [mod]";
    # 4.x "RIP: 0010:[<ffffffff8155a2b2>]  [<ffffffff8155a2b2>] skb_segment+..."
    ("x86_64", re.compile(rf"^RIP: (?:[0-9a-f]{{4}}:)?(?:\[<[0-9a-f]+>\]\s+)*{_FN}{_OFF}{_MOD}")),
    # 4.x: "IP: skb_segment+0x24c/0xf40" / "IP: [<ffffffff8155a2b2>] skb_segment+..."
    ("x86_64", re.compile(rf"^IP: (?:\[<[0-9a-f]+>\]\s+)*{_FN}{_OFF}{_MOD}")),
    # decode_stacktrace.sh: "RIP: 0010:skb_segment (net/core/skbuff.c:4560)"
    ("x86_64", re.compile(rf"^RIP: (?:[0-9a-f]{{4}}:)?{_FN}(?:{_OFF})? \((?P<src>[^()]*)")),
    # arm64: "pc : skb_segment+0x2c0/0x8f0"; 4.x arm64: "PC is at skb_segment+0x2c0/0x8f0";
    # MediaTek: "pc : [0xffffffd79598aefc] skb_segment+0xcd0/0xd14"
    ("arm64", re.compile(rf"^(?:pc : |PC is at )(?:\[<?(?:0x)?[0-9a-f]+>?\]\s+)?{_FN}{_OFF}{_MOD}")),
    # powerpc: "NIP [c000000000a3b8f4] skb_segment+0x234/0xa30"
    ("ppc64le", re.compile(rf"^NIP:? +\[[0-9a-f]+\] {_FN}{_OFF}{_MOD}")),
    # riscv "epc : skb_segment+0x2c0/0x8f0", mips "epc   : 80108aac skb_segment+0x148/0x228"
    ("riscv", re.compile(rf"^epc\s*: (?:[0-9a-f]+ )?{_FN}{_OFF}{_MOD}")),
    # s390: "Krnl PSW : 0704c00180000000 000003ff8030e3e4 (skb_segment+0x2c4/0x9e0)"
    ("s390x", re.compile(rf"^Krnl PSW : [0-9a-f]+ [0-9a-f]+ \({_FN}{_OFF}{_MOD}\)")),
)


def match_pc_line(line: str) -> Optional[PcLine]:
    if not line or line[0] not in "RIpPNeK":
        return None
    for arch, pattern in _PC_LINES:
        m = pattern.match(line)
        if m:
            groups = m.groupdict()
            if arch == "riscv" and re.match(r"epc\s*: [0-9a-f]+ ", line):
                arch = "mips"
            return PcLine(
                groups["func"], _int16(groups.get("off")), _int16(groups.get("size")), groups.get("mod"), arch
            )
    return None
