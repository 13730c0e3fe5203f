"""Oops headlines and panic messages, as data (syzkaller ``pkg/report`` style).

A *headline* starts (or, for continuation lines, completes) an event. Like
syzkaller's ``linuxOopses``, headlines are grouped by a literal *header*
(``BUG:``, ``WARNING:``, ``INFO:``, ``Unable to handle kernel``...) found
anywhere in a line, with per-header suppressions (lines that carry the
header but are not reports); each headline's regex is then matched at the
header. Named groups fill event fields: ``addr`` (fault address, hex),
``file``/``line`` (BUG/WARN site), ``func``/``off``/``size``/``mod`` (where
the CPU trapped), ``cpu``/``pid``/``comm``.

*Placement* says what may precede the header on the (already de-prefixed)
line: nothing (``start``), a printk subsystem lead such as ``rcu: `` or
``watchdog: `` (``lead``), or anything (``anywhere``: the wording is
specific enough, and consoles glue a login prompt or a half line in front).

Event classes decide which event is the fatal one (see ``console.py``):
``oops`` (the first one wins), ``warn`` (the last one wins), ``report`` (a
bug report that does not stop the kernel: hung task, RCU stall, lockdep,
kmemleak; the first one wins, after any oops or WARN), ``info`` (fatal only
when a ``Kernel panic`` follows it), ``cont`` (a line that belongs to the
event just started, such as ``Oops: 0000 [#1]`` after a ``BUG:``).

Each headline also names the :class:`~gsotriage.parse.guilty.StackRule` that
picks its guilty frame, optionally refined by *variants* (a regex over the
headline -> another rule), e.g. a WARNING in ``lib/refcount.c`` blames the
caller of the refcount helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Pattern, Tuple

from gsotriage.model import PanicKind

from .guilty import CALL_TRACE, DEFAULT_RULE, PARSE, RIP_FRAME, StackRule, compile_part, warning_rule

__all__ = [
    "CONT",
    "HEADLINES",
    "INFO",
    "OOPS",
    "PANICS",
    "REPORT",
    "WARN",
    "Headline",
    "PanicRule",
    "match_headline",
    "match_panic",
]

OOPS, WARN, REPORT, INFO, CONT = "oops", "warn", "report", "info", "cont"

_HEX = r"(?:0x)?[0-9a-fA-F]+"
_FN = r"(?P<func>[A-Za-z_.$][\w.$]*)"
_FN_OFF = _FN + r"\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)(?: \[(?P<mod>[\w-]+)\])?"
_OFF_OPT = r"(?:\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+))?"

Variant = Tuple[Pattern[str], StackRule]


@dataclass(frozen=True)
class Headline:
    name: str
    header: str  # the literal the line must contain
    pattern: Pattern[str]  # matched where the header starts (or at line start for placement "line")
    kind: Optional[PanicKind]
    klass: str
    # Names of the headlines whose fresh event this line joins instead of
    # starting its own (None: any fresh event).
    joins: Optional[FrozenSet[str]] = frozenset()
    # A continuation whose address replaces the event's (KASAN's null-ptr range
    # is the real address; the GPF's non-canonical one is its shadow).
    overrides_address: bool = False
    # A WARN() report: it becomes warn-panic when panic_on_warn fires.
    is_warn: bool = False
    # A CONT line with no fresh event to join starts an oops of its own
    # (a log cut just before ``Oops: ...``), unless this is False.
    standalone: bool = True
    placement: str = "lead"  # start | lead | anywhere | line
    stack: Optional[StackRule] = DEFAULT_RULE
    variants: Tuple[Variant, ...] = ()
    # The guilty function is this group of the headline itself (stack-protector's "in: FUNC").
    guilty_group: Optional[str] = None
    # Printed by other code while a report is under way (oom-killer, netdev refcount
    # waits): inside an open call trace it is another CPU's line, not a new report.
    quiet: bool = False

    def rule_for(self, title: str) -> Optional[StackRule]:
        for pattern, rule in self.variants:
            if pattern.search(title):
                return rule
        return self.stack


def _h(name: str, header: str, pattern: str, kind: Optional[PanicKind], klass: str, **kw: object) -> Headline:
    return Headline(name, header, re.compile(pattern), kind, klass, **kw)  # type: ignore[arg-type]


def _rule(
    *parts: object, skip: Tuple[str, ...] = (), extractor: Optional[str] = None, skip_generic: bool = True
) -> StackRule:
    compiled = tuple(compile_part(p) if isinstance(p, str) else p for p in parts)
    return StackRule(parts=compiled, skip=skip, extractor=extractor, skip_generic=skip_generic)  # type: ignore[arg-type]


def _says(*parts: object) -> StackRule:
    """The function a report names in its own words (syzkaller's report regex): taken as is."""
    return _rule(*parts, skip_generic=False)


def _v(pattern: str, rule: StackRule) -> Variant:
    return re.compile(pattern), rule


K = PanicKind
_ANY = None
_SYSRQ = frozenset({"sysrq"})  # old kernels: the NULL deref *is* the sysrq crash

TRACE = _rule(CALL_TRACE, PARSE)
_STALL = StackRule(parts=(RIP_FRAME, CALL_TRACE, PARSE), extractor="stall")
_AT_FUNC = "at: (?:{{PC}} +)?{{FUNC}}"
_LOCKS_HELD = _says("leaving the kernel with locks still held", _AT_FUNC)
_KASAN_SKIP = ("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_")
_KMSAN_PARTS = (PARSE, compile_part("(Local variable .* created at:|Uninit was created at:)"), PARSE)
_MEMLEAK = _rule(
    r"backtrace(?: \(crc [0-9a-fA-F]*\))?:",
    PARSE,
    skip=(
        "kmemleak", "mmap", "kmem", "slab", "alloc", "create_object", "idr_get", "list_lru_init",
        "kasprintf", "kvasprintf", "pcpu_create", "strdup", "strndup", "memdup",
    ),
)  # fmt: skip
_WARNING_VARIANTS = (
    _v(r"lib/debugobjects\.c.* (?:debug_print|debug_check|at)", warning_rule(
        "debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree", "__free_",
        "debug_check", "kobject_")),
    _v(r"mm/usercopy\.c.* (?:usercopy_warn|at)", warning_rule("usercopy", "__check")),
    _v(r"lib/kobject\.c.* (?:kobject_|at)", warning_rule("kobject_")),
    _v(r"fs/proc/generic\.c.* (?:proc_register|at)", warning_rule("proc_")),
    _v(r"lib/refcount\.c", warning_rule("refcount", "kobject_")),
    _v(r"kernel/locking/lockdep\.c.*lock_", warning_rule("lock_sock", "release_sock")),
    _v(r"mm/.*\.c.* k?.?malloc", warning_rule("kmalloc", "krealloc", "slab", "kmem")),
    _v(r" usb_submit_urb", warning_rule(
        "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg")),
)  # fmt: skip

HEADLINES: Tuple[Headline, ...] = (
    # ------------------------------------------------------------- BUG:
    _h("kasan-free", "BUG:", r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in " + _FN
       + _OFF_OPT, K.KASAN, OOPS, placement="anywhere",
       stack=_rule("BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}", CALL_TRACE,
                   PARSE, skip=("slab_", "kfree", "vunmap", "vfree"))),
    _h("kasan", "BUG:", rf"BUG: KASAN: [\w-]+ in {_FN}{_OFF_OPT}", K.KASAN, OOPS, placement="anywhere",
       stack=_rule("BUG: KASAN: (?:[a-z\\-]+) in {{FUNC}}", CALL_TRACE, PARSE, skip=_KASAN_SKIP)),
    _h("kasan-other", "BUG:", rf"BUG: KASAN: [\w-]+(?: on address (?P<addr>{_HEX}))?", K.KASAN, OOPS,
       placement="anywhere"),
    _h("kmsan", "BUG:", rf"BUG: KMSAN: (?P<what>[\w-]+) in {_FN}{_OFF_OPT}", K.KMSAN, OOPS, placement="anywhere",
       stack=StackRule(parts=_KMSAN_PARTS, skip=(
           "alloc_skb", "netlink_ack", "netlink_rcv_skb", "_encrypt$", "^(?:crypto|cipher|drbg|rng)_")),
       variants=(_v("kernel-usb-infoleak", StackRule(parts=_KMSAN_PARTS, skip=(
           "alloc_skb", "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg",
           "usb_control_msg"))),)),
    _h("kmsan-other", "BUG:", r"BUG: KMSAN: ", K.KMSAN, OOPS, placement="anywhere"),
    _h("kcsan", "BUG:", r"BUG: KCSAN: (?P<what>[\w -]+?) in (?P<guilty>[A-Za-z_]\w*)", K.KCSAN, WARN,
       placement="anywhere", stack=None, guilty_group="guilty"),
    _h("kcsan-other", "BUG:", r"BUG: KCSAN: ", K.KCSAN, WARN, placement="anywhere", stack=None),
    _h("kfence", "BUG:", rf"BUG: KFENCE: (?P<what>[a-z -]+?) in {_FN}{_OFF_OPT}", K.KFENCE, OOPS,
       placement="anywhere", stack=_rule("BUG: KFENCE: (?:[a-z\\- ]+) in {{FUNC}}", PARSE)),
    _h("null-deref", "BUG:", rf"BUG: kernel NULL pointer dereference, address: (?P<addr>{_HEX})", K.NULL_DEREF,
       OOPS, joins=_SYSRQ, placement="anywhere"),
    # 2.6-4.x (RHEL 7/8) pad "(null)" to the width of an address.
    _h("null-deref-old", "BUG:",
       r"BUG: unable to handle kernel NULL pointer dereference at\s+(?P<addr>[0-9a-fA-F]+|\(null\))",
       K.NULL_DEREF, OOPS, joins=_SYSRQ, placement="anywhere"),
    # powerpc: "BUG: Kernel NULL pointer dereference on read at 0x00000010".
    _h("null-deref-ppc", "BUG:",
       rf"BUG: Kernel NULL pointer dereference(?: on (?:read|write|execute))?(?: at (?P<addr>{_HEX}))?",
       K.NULL_DEREF, OOPS, placement="anywhere"),
    _h("page-fault", "BUG:", rf"BUG: unable to handle page fault for address: (?P<addr>{_HEX})", K.PAGING_FAULT,
       OOPS, placement="anywhere"),
    _h("paging-request-old", "BUG:", rf"BUG: unable to handle kernel paging request at (?P<addr>{_HEX})",
       K.PAGING_FAULT, OOPS, placement="anywhere"),
    _h("data-access-ppc", "BUG:",
       rf"BUG: Unable to handle kernel (?:data access|instruction fetch)(?: on (?:read|write|execute))?"
       rf"(?: at (?P<addr>{_HEX}))?", K.PAGING_FAULT, OOPS, placement="anywhere"),
    # The second half of the line is a separate printk and may be lost.
    _h("unable-to-handle-cut", "BUG:", r"BUG: (?:unable|Unable) to handle kernel", K.PAGING_FAULT, OOPS,
       placement="anywhere"),
    _h("spinlock", "BUG:", r"BUG: (?:spinlock|rwlock) (?:lockup suspected|already unlocked|recursion|cpu recursion"
       r"|bad magic|wrong owner|wrong CPU|trylock failure on UP)(?: on CPU#(?P<cpu>\d+), (?P<comm>.+)/(?P<pid>\d+))?",
       K.LOCKING, WARN, placement="anywhere", stack=_rule(CALL_TRACE, PARSE, skip=("spin_", "_lock", "_unlock"))),
    _h("soft-lockup", "BUG:",
       r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for \d+s! \[(?P<comm>.+):(?P<pid>\d+)\]",
       K.SOFT_LOCKUP, WARN, stack=_STALL),
    _h("soft-lockup-cut", "BUG:", r"BUG: soft lockup", K.SOFT_LOCKUP, WARN, stack=_STALL),
    _h("still-has-locks", "BUG:", r"BUG: .*still has locks held!", K.LOCKING, WARN, placement="anywhere",
       stack=_says("{{PC}} +{{FUNC}}")),
    _h("scheduling-while-atomic", "BUG:", r"BUG: scheduling while atomic", K.ATOMIC_SLEEP, WARN,
       placement="anywhere", stack=_rule(CALL_TRACE, PARSE, skip=("schedule",))),
    _h("lock-held-returning", "BUG:", r"BUG: lock held when returning to user space", K.LOCKING, WARN,
       placement="anywhere", stack=_LOCKS_HELD),
    _h("bad-unlock", "BUG:", r"BUG: bad unlock balance detected!", K.LOCKING, WARN, placement="anywhere",
       stack=_rule("{{PC}} +{{FUNC}}", CALL_TRACE, PARSE)),
    _h("held-lock-freed", "BUG:", r"BUG: held lock freed!", K.LOCKING, WARN, placement="anywhere",
       stack=_says("{{PC}} +{{FUNC}}")),
    _h("bad-page", "BUG:", r"BUG: Bad page (?:state|cache)", K.OTHER, WARN, placement="anywhere",
       stack=_rule("page last allocated", PARSE, skip=(
           "(free|put|get|update|release)_page", "free_unref", "^_*folio", "truncate_inode_pages",
           "page_frag_free", "alloc", "vmap", "page_owner"))),
    _h("workqueue-lockup", "BUG:", r"BUG: workqueue lockup", K.STALL, REPORT, placement="anywhere", stack=None),
    _h("sleeping-in-atomic", "BUG:",
       r"BUG: sleeping function called from invalid context(?: at (?P<file>[^\s:]+):(?P<line>\d+))?",
       K.ATOMIC_SLEEP, WARN, placement="anywhere", stack=TRACE),
    _h("preemptible", "BUG:", r"BUG: using \w+\(\) in preemptible", K.ATOMIC_SLEEP, WARN, placement="anywhere",
       stack=_rule(CALL_TRACE, PARSE, skip=("dump_stack", "preemption", "preempt", "debug_", "processor_id",
                                             "this_cpu"))),
    _h("workqueue-leak", "BUG:", r"BUG: workqueue leaked lock or atomic", K.LOCKING, WARN, placement="anywhere",
       stack=_says(r"last function: ([a-zA-Z0-9_]+)$")),
    _h("memory-leak", "BUG:", r"BUG: memory leak", K.MEMORY_LEAK, REPORT, placement="anywhere", stack=_MEMLEAK),
    _h("stack-guard", "BUG:", r"BUG: .*stack guard page was hit at", K.STACK_CORRUPTION, OOPS,
       placement="anywhere", stack=_STALL),
    _h("invalid-wait-context", "BUG:", r"BUG: Invalid wait context", K.LOCKING, WARN, placement="anywhere",
       stack=_rule(CALL_TRACE, PARSE, skip=("lock_sock", "release_sock"))),
    _h("lockdep-capacity", "BUG:", r"BUG: MAX_\w+ too low!", K.LOCKING, WARN, placement="anywhere"),
    # Other BUG: reports (bad rss-counter, dentry still in use...): not fatal on their own.
    _h("bug-other", "BUG:", r"BUG: \S", K.OTHER, WARN),
    # ------------------------------------------------------------- WARNING:
    _h("warning", "WARNING:",
       rf"WARNING: CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at (?P<file>[^\s:]+):(?P<line>\d+) {_FN_OFF}",
       K.WARN, WARN, joins=frozenset({"refcount"}), is_warn=True, placement="anywhere",
       stack=warning_rule(), variants=_WARNING_VARIANTS),
    # 2.6-3.x: "WARNING: at net/core/dev.c:1907 skb_gso_segment+0x1dd/0x2d0()".
    _h("warning-old", "WARNING:",
       rf"WARNING: (?:CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) )?at (?P<file>[^\s:]+):(?P<line>\d+) {_FN_OFF}",
       K.WARN, WARN, joins=frozenset({"refcount"}), is_warn=True, placement="anywhere",
       stack=warning_rule(), variants=_WARNING_VARIANTS),
    # 6.19+: "WARNING: [cond] lib/refcount.c:19 at 0x0, CPU#1: comm/6051" (the RIP line names the function).
    _h("warning-src-at", "WARNING:",
       rf"WARNING: (?:\[[^\]]*\] )?(?P<file>[^\s:\[]+):(?P<line>\d+) at (?:{_FN_OFF}|0x[0-9a-f]+)"
       r"(?:, CPU#(?P<cpu>\d+): (?P<comm>.+)/(?P<pid>\d+))?",
       K.WARN, WARN, joins=frozenset({"refcount"}), is_warn=True, placement="anywhere",
       stack=warning_rule(), variants=_WARNING_VARIANTS),
    _h("circular-locking", "WARNING:", r"WARNING: possible circular locking dependency detected", K.LOCKING, REPORT,
       placement="anywhere", stack=_rule(_AT_FUNC, _AT_FUNC, PARSE, skip=(
           "process_one_work", "flush_workqueue", "drain_workqueue", "destroy_workqueue"))),
    _h("irq-lock-inversion", "WARNING:", r"WARNING: possible irq lock inversion dependency detected", K.LOCKING,
       REPORT, placement="anywhere", stack=_says("just changed the state of lock", _AT_FUNC)),
    _h("lock-order", "WARNING:", r"WARNING: .*-safe -> .*-unsafe lock order detected", K.LOCKING, REPORT,
       placement="anywhere", stack=_rule("which became (?:.*) at:", PARSE)),
    _h("recursive-locking", "WARNING:", r"WARNING: possible recursive locking detected", K.LOCKING, REPORT,
       placement="anywhere", stack=_says("is trying to acquire lock", _AT_FUNC)),
    _h("inconsistent-lock", "WARNING:", r"WARNING: inconsistent lock state", K.LOCKING, REPORT,
       placement="anywhere", stack=TRACE),
    _h("suspicious-rcu", "WARNING:", r"WARNING: suspicious RCU usage", K.LOCKING, REPORT, placement="anywhere",
       stack=_rule(CALL_TRACE, PARSE, skip=("rcu", "kmem", "slab"))),
    _h("bad-unlock-warning", "WARNING:", r"WARNING: bad unlock balance detected!", K.LOCKING, REPORT,
       placement="anywhere", stack=_rule("{{PC}} +{{FUNC}}", CALL_TRACE, PARSE)),
    _h("held-lock-freed-warning", "WARNING:", r"WARNING: held lock freed!", K.LOCKING, REPORT,
       placement="anywhere", stack=_says("at:(?: {{PC}})? +{{FUNC}}")),
    _h("still-has-locks-warning", "WARNING:", r"WARNING: .*still has locks held!", K.LOCKING, REPORT,
       placement="anywhere", stack=_says("at: {{FUNC}}")),
    _h("nested-lock", "WARNING:", r"WARNING: Nested lock was not taken", K.LOCKING, REPORT, placement="anywhere",
       stack=warning_rule()),
    _h("lock-held-returning-warning", "WARNING:", r"WARNING: lock held when returning to user space", K.LOCKING,
       REPORT, placement="anywhere", stack=_LOCKS_HELD),
    _h("bad-stack-value", "WARNING:",
       r"WARNING: kernel stack (?:regs|frame pointer) at\s+(?:[0-9a-f]+|\(ptrval\)) in \S* has bad",
       K.STACK_CORRUPTION, WARN, placement="anywhere", stack=None),
    # ------------------------------------------------------------- INFO:
    _h("circular-locking-old", "INFO:", r"INFO: possible circular locking dependency detected", K.LOCKING, REPORT,
       placement="anywhere", stack=_says("is trying to acquire lock", "at: {{PC}} +{{FUNC}}")),
    _h("irq-lock-inversion-old", "INFO:", r"INFO: possible irq lock inversion dependency detected", K.LOCKING,
       REPORT, placement="anywhere", stack=_says("just changed the state of lock", "at: {{PC}} +{{FUNC}}")),
    _h("lock-order-old", "INFO:", r"INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", K.LOCKING, REPORT,
       placement="anywhere", stack=_says("is trying to acquire", "at: {{PC}} +{{FUNC}}")),
    _h("recursive-locking-old", "INFO:", r"INFO: possible recursive locking detected", K.LOCKING, REPORT,
       placement="anywhere", stack=_says("is trying to acquire lock", "at: {{PC}} +{{FUNC}}")),
    _h("inconsistent-lock-old", "INFO:", r"INFO: inconsistent lock state", K.LOCKING, REPORT, placement="anywhere",
       stack=_says("takes", "at: {{PC}} +{{FUNC}}")),
    _h("rcu-stall", "INFO:", r"INFO: rcu_(?:preempt|sched|bh|tasks)\w* (?:self-)?detected(?: expedited)? stall",
       K.STALL, REPORT, stack=StackRule(
           parts=(compile_part("apic_timer_interrupt"), RIP_FRAME, PARSE),
           parts2=(compile_part("(?:apic_timer_interrupt|Exception stack|el1h_64_irq)"), PARSE),
           skip=("apic_timer_interrupt", "rcu"), extractor="stall")),
    _h("non-static-key", "INFO:", r"INFO: trying to register non-static key", K.LOCKING, REPORT,
       placement="anywhere", stack=_rule(CALL_TRACE, PARSE, skip=("stack", "lock", "IRQ"))),
    _h("suspicious-rcu-old", "INFO:", r"INFO: suspicious RCU usage", K.LOCKING, REPORT, placement="anywhere",
       stack=_rule(CALL_TRACE, PARSE, skip=("rcu", "kmem", "slab"))),
    _h("hung-task", "INFO:",
       r"INFO: task (?P<comm>.+):(?P<pid>\d+) blocked (?:in I/O wait )?for more than \d+ seconds",
       K.HUNG_TASK, REPORT, placement="anywhere", stack=StackRule(parts=(CALL_TRACE, PARSE), extractor="hang")),
    _h("task-cant-die", "INFO:", r"INFO: task (?P<comm>.+):(?P<pid>\d+) can't die for more than", K.HUNG_TASK,
       REPORT, placement="anywhere", stack=_rule(CALL_TRACE, PARSE, skip=("schedule",))),
    # SLUB debug's object history, printed in a "BUG kmalloc-..." report.
    _h("slub-object-info", "INFO:", r"INFO: (?:Freed|Allocated) in (?P<guilty>[A-Za-z_]\w*)", K.OTHER, REPORT,
       placement="anywhere", stack=None, guilty_group="guilty"),
    # ------------------------------------------------------------- arm, arm64, riscv, mips, s390 faults
    _h("arm64-null-deref", "Unable to handle kernel",
       rf"Unable to handle kernel NULL pointer dereference at virtual address (?P<addr>{_HEX})", K.NULL_DEREF, OOPS,
       placement="anywhere"),
    # arm64 names the access ("paging request", "read from unreadable memory",
    # "write to read-only memory", ...), s390 "pointer dereference in virtual
    # kernel address space"; an address below one page is a NULL dereference
    # whatever the wording (assemble.py applies that rule).
    _h("arm64-paging", "Unable to handle kernel",
       rf"Unable to handle kernel [a-zA-Z][a-zA-Z -]*?(?: at (?:virtual address )?(?P<addr>{_HEX})\b|,|$)",
       K.PAGING_FAULT, OOPS, placement="anywhere"),
    _h("unhandled-fault", "Unhandled fault:", rf"Unhandled fault: .*? at (?P<addr>{_HEX})", K.PAGING_FAULT, OOPS,
       placement="anywhere"),
    _h("unhandled-fault-cut", "Unhandled fault:", r"Unhandled fault:", K.PAGING_FAULT, OOPS, placement="anywhere"),
    # ------------------------------------------------------------- BUG() / GPF / traps
    _h("kernel-bug", "kernel BUG", r"kernel BUG at (?P<file>[^\s:]+):(?P<line>\d+) ?!", K.BUG, OOPS,
       placement="anywhere", stack=_rule(RIP_FRAME, CALL_TRACE, PARSE, skip=("^skb_",)),
       variants=(_v(r"kernel BUG at mm/usercopy\.c", _rule(CALL_TRACE, PARSE, skip=("usercopy", "__check"))),
                 _v(r"kernel BUG at lib/list_debug\.c", TRACE))),
    # FORTIFY_SOURCE's report (lib/string_helpers.c __fortify_report(), v6.9: "memcpy: detected buffer
    # overflow: 4 byte write of buffer size 0"), then __fortify_panic() -> BUG(); the guilty
    # function is the caller of the string helper.
    _h("fortify", "detected buffer overflow",
       r"detected buffer overflow: \d+ byte (?:read|write) of buffer size \d+", K.BUG,
       OOPS, placement="anywhere", stack=_rule(CALL_TRACE, PARSE, skip=("fortify",))),
    # s390/x86 without CONFIG_DEBUG_BUGVERBOSE: "Kernel BUG at skb_pull_rcsum+0x94/0xa0 [verbose debug info
    # unavailable]" or "Kernel BUG at 00000000001234ab".
    _h("kernel-bug-addr", "Kernel BUG", rf"Kernel BUG(?: at {_FN_OFF})?", K.BUG, OOPS, placement="anywhere"),
    _h("mips-bug", "Kernel bug detected", r"Kernel bug detected", K.BUG, OOPS, placement="anywhere"),
    _h("gpf", "general protection fault",
       rf"general protection fault(?:,? (?:(?:probably|maybe) )?for (?:non-canonical )?address (?P<addr>{_HEX}))?:",
       K.GPF, OOPS, placement="anywhere"),
    _h("stack-segment", "stack segment: ", r"stack segment: ", K.TRAP, OOPS, placement="anywhere"),
    _h("double-fault", "PANIC: double fault", r"PANIC: double fault", K.TRAP, OOPS, placement="anywhere",
       stack=StackRule(parts=(RIP_FRAME,))),
    _h("divide-error", "divide error:", r"divide error: ", K.TRAP, OOPS, placement="anywhere",
       stack=StackRule(parts=(RIP_FRAME,))),
    # A misspelling from 9d06c4027f21 ("x86/entry: Convert Divide Error to IDTENTRY") (in v5.9).
    _h("divide-error-5.9", "divide_error:", r"divide_error: ", K.TRAP, OOPS, placement="anywhere",
       stack=StackRule(parts=(RIP_FRAME,))),
    _h("int3", "int3:", r"int3: ", K.TRAP, OOPS, placement="anywhere"),
    _h("alignment-trap", "Alignment trap:", r"Alignment trap: ", K.TRAP, OOPS, placement="anywhere"),
    _h("mips-unaligned", "Unhandled kernel unaligned access", r"Unhandled kernel unaligned access", K.TRAP, OOPS,
       placement="anywhere"),
    _h("rust-panic", "rust_kernel: panicked", r"rust_kernel: panicked", K.OTHER, OOPS, placement="anywhere",
       stack=_rule(CALL_TRACE, PARSE, skip=(re.escape("__rustc::rust_begin_unwind"),))),
    _h("slub-double-free", "BUG kmalloc-", r"BUG kmalloc-.*: Object already free", K.OTHER, OOPS,
       placement="anywhere"),
    _h("trusty-panic", "trusty: panic", r"trusty: panic", K.OTHER, REPORT, placement="anywhere", stack=None),
    # ------------------------------------------------------------- watchdogs, sanitizers, leaks
    _h("hard-lockup", "Watchdog detected hard LOCKUP",
       r"Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)", K.HARD_LOCKUP, WARN, stack=_STALL),
    _h("ubsan", "UBSAN:", r"UBSAN: (?P<what>.*?)(?: in (?P<file>[^\s:]+):(?P<line>\d+))?", K.UBSAN, WARN,
       placement="anywhere", stack=_rule(CALL_TRACE, PARSE, skip=("ubsan", "overflow"))),
    _h("kmemleak", "unreferenced object", r"unreferenced object (?P<obj>0x[0-9a-f]+) \(size \d+\):",
       K.MEMORY_LEAK, REPORT, joins=frozenset({"memory-leak"}), placement="start", stack=_MEMLEAK),
    _h("netdev-refcount", "unregister_netdevice: waiting for",
       r"unregister_netdevice: waiting for (?P<dev>.+?) to become free", K.OTHER, REPORT, placement="anywhere",
       stack=None, quiet=True),
    _h("vfs-file-count", "VFS: Close: file count is 0", r"VFS: Close: file count is 0", K.OTHER, REPORT,
       placement="anywhere", stack=None),
    _h("vfs-busy-inodes", "VFS: Busy inodes after unmount", r"VFS: Busy inodes after unmount", K.OTHER, REPORT,
       placement="anywhere", stack=None),
    # ------------------------------------------------------------- deliberate / resource / hardware
    _h("sysrq", "Trigger a crash", r"Trigger a crash", K.SYSRQ, INFO),
    _h("oom-killer", "invoked oom-killer:", r"(?P<comm>\S+) invoked oom-killer:", K.OOM, INFO, placement="line"),
    _h("mce", "mce: [Hardware Error]", r"mce: \[Hardware Error\]:", K.MCE, INFO, joins=frozenset({"mce"}),
       placement="start"),
    # ------------------------------------------------------------- WARN()
    _h("refcount", "refcount_t:",
       r"refcount_t: (?:underflow|overflow|saturated|addition on 0|decrement hit 0)", K.WARN, WARN, is_warn=True,
       stack=warning_rule("refcount", "kobject_")),
    # ------------------------------------------------------------- continuation lines
    _h("oops-line", "Oops", r"Oops(?: - [\w ]+)?: [0-9a-f]+ (?:ilc:\d )?\[#\d+\]", K.OTHER, CONT, joins=_ANY,
       placement="start"),
    _h("oops-mips", "Oops", r"Oops\[#\d+\]", K.OTHER, CONT, joins=_ANY, placement="start"),
    # powerpc: "Oops: Kernel access of bad area, sig: 11 [#1]".
    _h("oops-ppc", "Oops", r"Oops: [A-Z][\w ]+, sig: \d+ \[#\d+\]", K.OTHER, CONT, joins=_ANY, placement="start"),
    # x86 BUG() traps with ud2; 6.10+ kernels prefix "Oops: ", and without
    # CONFIG_DEBUG_BUGVERBOSE no "kernel BUG at" line precedes it.
    _h("invalid-opcode", "invalid opcode:", r"invalid opcode: [0-9a-f]+ \[#\d+\]", K.BUG, CONT, joins=_ANY,
       placement="anywhere", stack=StackRule(parts=(RIP_FRAME,))),
    # arm/arm64 die(): "Internal error: Oops - BUG: 00000000f2000800 [#1]" is BUG() (brk/udf).
    _h("arm-internal-bug", "Internal error:",
       r"Internal error: Oops - (?:BUG|undefined instruction|Undefined instruction)", K.BUG, CONT, joins=_ANY,
       placement="anywhere"),
    _h("arm64-internal-error", "Internal error:", r"Internal error: ", K.OTHER, CONT, joins=_ANY,
       placement="anywhere"),
    _h("kasan-null-range", "KASAN:", rf"KASAN: null-ptr-deref in range \[(?P<addr>{_HEX})-{_HEX}\]", K.GPF, CONT,
       joins=frozenset({"gpf"}), overrides_address=True, standalone=False, placement="start"),
    _h("kasan-access", "of size ",
       rf"(?:Read|Write) of size \d+ at addr (?P<addr>{_HEX}) by task (?P<comm>.+)/(?P<pid>\d+)", K.KASAN, CONT,
       joins=frozenset({"kasan"}), standalone=False, placement="line"),
)  # fmt: skip


# Lines that carry a header but are not reports (syzkaller's per-oops suppressions).
SUPPRESSIONS: Dict[str, Tuple[Pattern[str], ...]] = {
    header: tuple(re.compile(p) for p in patterns)
    for header, patterns in {
        "BUG:": ("Boot_DEBUG:", "xlog_status:", "BUG: no syscalls can create resource"),
        "WARNING:": (
            r"WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
            r"WARNING: workqueue cpumask: online intersect > possible intersect",
            r"WARNING: [Tt]he mand mount option",
            r"WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1",
            r"WARNING: Unprivileged eBPF is enabled with eIBRS",
            r"WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size",
            r"WARNING: See https.* for mitigation options.",
            r"WARNING: kernel not compiled with CPU_SRSO",
            r"EXT4-[Ff][Ss](?: \(.*\))?:",
            r"(?i)warning: .* uses (deprecated v2 capabilities|wireless extensions)",
            r"XFS \(\w+\): WARNING",
        ),
        "INFO:": (
            r"INFO: lockdep is turned off",
            r"INFO: Stall ended before state dump start",
            r"INFO: NMI handler",
            r"INFO: recovery required on readonly filesystem",
            r"(handler|interrupt).*took too long",
            r"INFO: sys_.* is not present in /proc/kallsyms",
            r"INFO: no syscalls can create resource",
            r"rmt_storage:INFO:",
            r"_INFO:",
        ),
        # A user-space trap: "traps: a.out[3615] general protection fault ip:... error:0 in a.out[...]".
        "general protection fault": (r"general protection fault .* error:\d+ in ",),
    }.items()
}

_BY_HEADER: Dict[str, List[Headline]] = {}
for _headline in HEADLINES:
    _BY_HEADER.setdefault(_headline.header, []).append(_headline)

# One pass finds every header. A short header must not continue a word
# ("ODEBUG:" holds "BUG:"); a phrase may follow text glued to it
# ("...user memory accessgeneral protection fault: 0000 [#1]").
_PHRASE = 12
_HEADERS = re.compile(
    "(?<![\\w/.-])("
    + "|".join(re.escape(h) for h in sorted(_BY_HEADER, key=len, reverse=True) if len(h) <= _PHRASE)
    + ")|("
    + "|".join(re.escape(h) for h in sorted(_BY_HEADER, key=len, reverse=True) if len(h) > _PHRASE)
    + ")"
)
# What a printk subsystem prefix looks like: "rcu: ", "watchdog: ", "usb 5-1: ".
_LEAD = re.compile(r"(?:[\w.:/\[\]-]+(?: [\w.:/-]+)?: ){1,3}")
_MAX_HEADERS_PER_LINE = 4

HEADER_KEYWORDS: Tuple[str, ...] = tuple(_BY_HEADER)


def _placed(headline: Headline, line: str, pos: int) -> bool:
    if pos == 0 or headline.placement in ("anywhere", "line"):
        return True
    if headline.placement == "start":
        return False
    return _LEAD.fullmatch(line, 0, pos) is not None


def match_headline(line: str) -> Optional[tuple[Headline, re.Match[str]]]:
    """The headline a line carries, leftmost header first."""
    # Substring tests are far cheaper than the alternation: most lines hold no header.
    for header in HEADER_KEYWORDS:
        if header in line:
            break
    else:
        return None
    for count, hm in enumerate(_HEADERS.finditer(line)):
        if count >= _MAX_HEADERS_PER_LINE:
            break
        header = hm.group(1) or hm.group(2)
        suppressions = SUPPRESSIONS.get(header)
        if suppressions and any(s.search(line) for s in suppressions):
            continue
        pos = hm.start()
        for headline in _BY_HEADER[header]:
            if not _placed(headline, line, pos):
                continue
            m = headline.pattern.match(line, 0 if headline.placement == "line" else pos)
            if m:
                return headline, m
    return None


@dataclass(frozen=True)
class PanicRule:
    pattern: Pattern[str]
    kind: Optional[PanicKind]  # None: keep the kind of the event it ends
    follows: Optional[FrozenSet[PanicKind]]  # event kinds it ends; None: any
    stack: Optional[StackRule] = DEFAULT_RULE  # guilty rule of a panic that starts its own event
    guilty_group: Optional[str] = None
    # Which event the panic ends: "current" (the one being reported), "oops" (the
    # last oops: die() panics after printing it, even if another CPU's report
    # started since), "run" (the first of a run of reports of one kind: the hung
    # task detector panics once after reporting them all), "recent" (the current
    # event if it has just been reported: a panic() with a message of its own).
    attach: str = "current"


def _p(
    pattern: str,
    kind: Optional[PanicKind],
    follows: Optional[FrozenSet[PanicKind]],
    stack: Optional[StackRule] = DEFAULT_RULE,
    guilty_group: Optional[str] = None,
    attach: str = "current",
) -> PanicRule:
    return PanicRule(re.compile(pattern), kind, follows, stack, guilty_group, attach)


_STACK = frozenset({K.STACK_CORRUPTION})
PANICS: Tuple[PanicRule, ...] = (
    _p(r"Fatal exception|Fatal trap|Oops - ", None, None, attach="oops"),
    _p(r"panic_on_warn set|kernel\.panic_on_warn", K.WARN_PANIC, None),
    _p(r"^hung_task: blocked tasks", K.HUNG_TASK, frozenset({K.HUNG_TASK}), attach="run"),
    _p(r"^softlockup: hung tasks", K.SOFT_LOCKUP, frozenset({K.SOFT_LOCKUP})),
    _p(r"Hard LOCKUP|^hardlockup", K.HARD_LOCKUP, frozenset({K.HARD_LOCKUP})),
    _p(r"sysrq triggered crash", K.SYSRQ, frozenset({K.SYSRQ})),
    _p(r"Out of memory|System is deadlocked on memory|out of memory", K.OOM, frozenset({K.OOM})),
    _p(r"Machine check|MCE|machine check", K.MCE, frozenset({K.MCE})),
    _p(r"KASAN", K.KASAN, frozenset({K.KASAN})),
    _p(r"panic_on_kmsan", K.KMSAN, frozenset({K.KMSAN})),
    _p(r"^RCU Stall", K.STALL, frozenset({K.STALL})),
    # Stack protector: __stack_chk_fail() names the function whose canary died.
    _p(
        rf"^stack-protector: Kernel stack is corrupted in: {_FN}\+",
        K.STACK_CORRUPTION,
        _STACK,
        stack=None,
        guilty_group="func",
    ),
    _p(
        r"^stack-protector: Kernel stack is corrupted in: ",
        K.STACK_CORRUPTION,
        _STACK,
        stack=_rule(CALL_TRACE, PARSE, skip=("stack_chk",)),
    ),
    _p(
        r"^corrupted stack end detected inside scheduler",
        K.STACK_CORRUPTION,
        _STACK,
        stack=_rule(CALL_TRACE, PARSE, skip=("schedule", "retint_kernel"), extractor="stall"),
    ),
    _p(
        r"^kernel stack overflow",
        K.STACK_CORRUPTION,
        _STACK,
        stack=_rule(CALL_TRACE, PARSE, skip=("bad_stack",), extractor="stall"),
    ),
    _p(r"", K.OTHER, None, attach="recent"),
)

_PANIC_HEADER = "Kernel panic - not syncing"
_PANIC_LINE = re.compile(r"Kernel panic - not syncing:?\s*(?P<msg>.*?)\s*$")


def match_panic(line: str) -> Optional[tuple[str, PanicRule, re.Match[str]]]:
    """``Kernel panic - not syncing: MSG`` -> (MSG, the rule it matches, that match)."""
    pos = line.find(_PANIC_HEADER)
    if pos < 0:
        return None
    m = _PANIC_LINE.match(line, pos)
    if not m:
        return None
    msg = m.group("msg")
    for rule in PANICS:
        rm = rule.pattern.search(msg)
        if rm:
            return msg, rule, rm
    raise AssertionError("the last PANICS rule matches everything")
