"""The guilty function of a report, chosen the way syzkaller's Linux reporter
chooses it (google/syzkaller ``pkg/report/linux.go``, ``report.go``).

A report names where the CPU trapped (``RIP:``, ``pc :``, the headline's ``in
FUNC``); that is :attr:`Panic.function`. The *guilty* function is the first
frame of the report that is not generic machinery: dump_stack(), panic(),
__warn(), the sanitizers' own code, memcpy(), lock and refcount helpers, ...
A WARN in refcount_warn_saturate() blames its caller; a KASAN report in
memcpy() blames the function that called memcpy().

Everything here is data, as in syzkaller: a :class:`StackRule` is a list of
*parts* matched in order over the report's lines (a regex that may capture a
function, or :data:`PARSE` for "the stack trace from here"), an optional
second list tried when the first yields nothing, extra skip patterns, and an
optional *extractor* for reports whose top frame is random (stalls, hung
tasks). :func:`extract_guilty` runs a rule over the lines an event recorded;
:func:`guilty_from_frames` applies the same skip lists to a structured stack
(a crash(8) ``bt``, or a trace whose lines were not kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Pattern, Sequence, Tuple, Union

__all__ = [
    "CALL_TRACE",
    "DEFAULT_RULE",
    "PARSE",
    "RIP_FRAME",
    "StackRule",
    "compile_part",
    "extract_guilty",
    "guilty_from_frames",
    "rule_for_kind",
    "warning_rule",
]


class _Parse:
    """Marker part: parse the stack trace that starts here."""

    def __repr__(self) -> str:
        return "PARSE"


PARSE = _Parse()
Part = Union[Pattern[str], _Parse]

_MACROS = (
    ("{{ADDR}}", r"0x[0-9a-f]+"),
    ("{{PC}}", r"\[<?(?:0x)?[0-9a-f]+>?\]"),
    ("{{FUNC}}", r"([a-zA-Z0-9_]+)(?:\.|\+)"),
    ("{{SRC}}", r"([a-zA-Z0-9\-_/.]+\.[a-z]+:[0-9]+)"),
    ("{{TASK}}", r"[\s\S]{0,100}?"),
)


def compile_part(pattern: str) -> Pattern[str]:
    """syzkaller's ``compile()``: expand ``{{PC}}``, ``{{FUNC}}``, ``{{SRC}}``..."""
    for macro, value in _MACROS:
        pattern = pattern.replace(macro, value)
    return re.compile(pattern)


# linux.go linuxRipFrame: the faulting PC line of x86 (RIP/IP), powerpc (NIP),
# arm/arm64/riscv (pc :, PC is at; riscv/mips "epc :" contains "pc :").
RIP_FRAME = compile_part(
    r"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+"
    r"|(?:[0-9]+:)?{{PC}} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))"
)
CALL_TRACE = compile_part(r"(?:Call (?:T|t)race:)|(?:Backtrace:)")

# Where a stack trace starts (and so where the previous one ends).
_STACK_START = tuple(
    compile_part(p)
    for p in (
        r"Call (?:T|t)race",
        r"Allocated:",
        r"Allocated by task [0-9]+:",
        r"Freed:",
        r"Freed by task [0-9]+:",
        # "backtrace:" but not "stack backtrace:"; kmemleak adds a crc.
        r"[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:",
        r"Backtrace:",
        r"Uninit was stored to memory at",
        # riscv show_regs() prints the stack right after this line.
        r"status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}",
    )
)
_FRAME_RES = (
    compile_part(r"^ *(?:{{PC}} ){0,2}{{FUNC}}"),
    # arm: "[<c0...>] (callee) from [<c0...>] (caller+0x...": both are frames.
    compile_part(r"^ *{{PC}} \(([a-zA-Z0-9_.]+)\) from {{PC}} \({{FUNC}}"),
)
# Fault injection stacks interleave with reports; a report that shows one is corrupted.
_CORRUPTED_LINES = (compile_part(r"^( \[<?(?:0x)?[0-9a-f]+>?\])? should_fail(slab)?(\.[a-z0-9.]+)?\+0x"),)

# Frames that are never guilty (linuxStackParams.skipPatterns), matched as
# unanchored regexes against the function name.
GLOBAL_SKIP: Tuple[str, ...] = (
    "__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
    "check_memory_region", "check_heap_object", "check_object", "read_word_at_a_time",
    "(read|write)_once_.*nocheck", "print_address_description", "panic", "invalid_op", "report_bug",
    "fixup_bug", "print_report", "print_usage_bug", "do_error", "_trap$|do_trap",
    "show_stack", "dump_stack", "walk_stack", "dump_backtrace", "warn_slowpath", "warn_alloc",
    "warn_bogus", "__warn", "alloc_page", "k?v?(?:m|z|c)alloc", "krealloc", "kmem_cache",
    "allocate_slab", "__alloc_frozen_pages_noprof", "folio_(?:alloc|unlock)", "filemap_alloc_folio",
    "__filemap_get_folio", "find_or_create_page", "do_read_cache_folio", "read_cache_page",
    "pagecache_get_page", "grab_cache_page_write_begin", "slab_", "debug_object",
    "timer_is_static_object", "work_is_static_object", "__might_fault", "print_unlock",
    "imbalance_bug", "lockdep", "bh_enable", "bh_disable", "perf_trace", "lock_acquire",
    "lock_release", "lock_class", "mark_lock", "(reacquire|mark)_held_locks", "raw_spin_rq",
    "spin_lock", "spin_trylock", "spin_unlock", "read_lock", "read_trylock", "write_lock",
    "write_trylock", "read_unlock", "write_unlock", "^down$", "down_read", "down_write",
    "down_read_trylock", "down_write_trylock", "down_trylock", "up_read", "up_write", "^mutex_",
    "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock",
    "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
    "(set|clear|change|test)_bit", "__wake_up", "^refcount_", "^kref_", "ref_tracker",
    "seqprop_assert", "memcpy", "memcmp", "memset", "memchr", "memmove", "memdup", "strcmp",
    "strncmp", "strcpy", "strlcpy", "strncpy", "strscpy", "strlen", "strstr", "strnstr", "strnlen",
    "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user", "copy_to_iter",
    "copy_from_iter", "copy_page_to_iter", "copy_page_from_iter", "copy_folio_to_iter", "^copyin$",
    "^copyout$", "put_user", "get_user", "might_fault", "might_sleep", "list_add", "list_del",
    "list_replace", "list_move", "list_splice", "^rb_", "^__rb_", "_indirect_thunk_", "string",
    "pointer", "snprintf", "scnprintf", "kasprintf", "kvasprintf", "printk", "va_format",
    "dev_info", "dev_notice", "dev_warn", "dev_err", "dev_alert", "dev_crit", "dev_emerg",
    "program_check_exception", "program_check_common", "del_timer", "flush_work",
    "__cancel_work_timer", "cancel_work_sync", "try_to_grab_pending", "flush_workqueue",
    "drain_workqueue", "destroy_workqueue", "queue_work", "finish_wait", "kthread_stop",
    "kobject_", "add_uevent_var", "get_device_parent", "device_add", "device_del",
    "device_unregister", "device_destroy", "device_release", "devres_release_all",
    "hwrng_unregister", "i2c_del_adapter", "__unregister_client", "device_for_each_child",
    "rollback_registered", "unregister_netdev", "sysfs_remove", "device_remove_file",
    "tty_unregister_device", "dummy_urb_enqueue", "usb_kill_urb", "usb_kill_anchored_urbs",
    "usb_control_msg", "usb_hcd_submit_urb", "usb_submit_urb", "^complete$",
    "wait_for_completion", "^kv?free$", "kfree_skb", "readb$", "readw$", "readl$", "readq$",
    "writeb$", "writew$", "writel$", "writeq$", "logic_in", "logic_out", r"^crc\d+", "crc_itu_t",
    "__might_resched", "assertfail", "^iput$", "^iput_final$", "^ihold$", "hex_dump_to_buffer",
    "print_hex_dump", "^klist_", "(trace|lockdep)_(hard|soft)irq", "^(un)?lock_page",
    "stack_trace_consume_entry", "arch_stack_walk", "stack_trace_save", "insert_work",
    "__queue_delayed_work", "queue_delayed_work_on", "ida_free",
    # arm64 translation exception handling path.
    "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(?:_handler)?",
    "print_tainted", "xas_(?:start|load|find)", "find_lock_entries", "truncate_inode_pages_range",
    "__phys_addr", "__fortify_report", "cleanup_srcu_struct", "rhashtable_lookup",
    "extract_(user|iter)_to_sg", "drop_nlink", "^get_taint$", "^put_device$", "lock_timer_base",
    "__timer_delete_sync", "sk_stop_timer_sync", "__mod_timer", "fast_dput", "dput",
    "mark_buffer_dirty",
)  # fmt: skip

# Syscall entry prefixes differ by arch and version: the canonical name drops them.
STRIP_PREFIXES = (
    "SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_", "__sys_",
    "__se_", "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_",
)  # fmt: skip

# Stalls and lockups loop somewhere random: blame the frame above a dispatch
# point (syscall entry, workqueue, softirq...), linuxStallAnchorFrames.
_STALL_ANCHORS = tuple(
    re.compile(p)
    for p in (
        "process_one_work", "do_syscall_", "do_fast_syscall_", "sysenter_dispatch", "tracesys_phase2",
        "el0_svc_handler", "invoke_syscall", "ret_fast_syscall", "netif_receive_skb", "do_softirq",
        "call_timer_fn", "_run_timers", "run_timer_softirq", "hrtimer_run", "run_ksoftirqd",
        "smpboot_thread_fn", "^kthread$", "start_secondary", "cpu_startup_entry", "ret_from_fork",
        "vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "do_iter_read", "do_iter_write",
        "call_read_iter", "call_write_iter", "new_sync_read", "new_sync_write", "vfs_ioctl",
        "ksys_ioctl", "compat_ioctl", "compat_sys_ioctl", "blkdev_driver_ioctl", "blkdev_ioctl",
        "^call_read_iter", "^call_write_iter", "do_iter_readv_writev", "^call_mmap", "mmap_region",
        "do_mmap", "do_dentry_open", "vfs_open", "^sock_sendmsg", "^sock_recvmsg", "^sock_release",
        "^__sock_release", "^setsockopt$", "kernel_setsockopt", "sock_common_setsockopt", "^listen$",
        "kernel_listen", "sk_common_release", "^sock_mmap", "^accept$", "kernel_accept",
        "^sock_do_ioctl", "^sock_ioctl", "^compat_sock_ioctl", "^nfnetlink_rcv_msg",
        "^rtnetlink_rcv_msg", "^netlink_dump", "^(sys_)?(socketpair|connect|ioctl)", "__do_fault",
        "do_page_fault", "^page_fault$", "__fput", "task_work_run", "exit_to_usermode",
        "smp_call_function", "tasklet_action", "tasklet_hi_action",
    )
)  # fmt: skip

# Hung tasks block on a shared lock or RCU: group by it, else skip waiting code.
_HANG_ANCHORS = (
    ("rtnl_lock", None),
    ("synchronize_rcu", "synchronize_rcu"),
    ("synchronize_srcu", "synchronize_rcu"),
    ("synchronize_net", "synchronize_rcu"),
    ("synchronize_sched", "synchronize_rcu"),
)
_HANG_SKIP = (
    "sched", "_lock", "_slowlock", "down", "rwsem", "completion", "kthread", "wait", "synchronize",
    "context_switch", "__switch_to", "cancel_delayed_work", "rcu_barrier",
)  # fmt: skip


def strip_frame(name: str) -> str:
    """The shortest name left by removing one syscall prefix (syzkaller's stripFrames)."""
    best = name
    for prefix in STRIP_PREFIXES:
        if name.startswith(prefix) and len(name) - len(prefix) < len(best):
            best = name[len(prefix) :]
    return best


def _stall(frames: Sequence[str]) -> Optional[str]:
    prev = frames[0] if frames else None
    for frame in frames:
        if any(a.search(strip_frame(frame)) for a in _STALL_ANCHORS):
            # Cross-CPU calls spin in smp_call_function*(): one bucket for all of them.
            return "smp_call_function" if "smp_call_function" in frame else prev
        prev = frame
    return None


def _hang(frames: Sequence[str]) -> Optional[str]:
    for frame in frames:
        for anchor, replacement in _HANG_ANCHORS:
            if anchor in frame:
                return replacement or frame
    for frame in frames:
        if not any(s in frame for s in _HANG_SKIP):
            return frame
    return None


# name -> the guilty function among the candidates (callee first), or None.
EXTRACTORS: dict[str, Callable[[Sequence[str]], Optional[str]]] = {"stall": _stall, "hang": _hang}


@dataclass(frozen=True)
class StackRule:
    """How to find the guilty frame of one report format."""

    parts: Tuple[Part, ...]
    parts2: Tuple[Part, ...] = ()
    skip: Tuple[str, ...] = ()
    extractor: Optional[str] = None  # a key of EXTRACTORS
    # False for a function a report names in its own words ("... at: FUNC"):
    # syzkaller takes it as is, generic or not.
    skip_generic: bool = True

    def skip_re(self) -> Pattern[str]:
        return _skip_re(self.skip if not self.skip_generic else (*GLOBAL_SKIP, *self.skip))


_SKIP_CACHE: dict[Tuple[str, ...], Pattern[str]] = {}
_NEVER = re.compile(r"(?!)")


def _skip_re(patterns: Tuple[str, ...]) -> Pattern[str]:
    if not patterns:
        return _NEVER
    found = _SKIP_CACHE.get(patterns)
    if found is None:
        found = _SKIP_CACHE[patterns] = re.compile("|".join(patterns))
    return found


def warning_rule(*skip: str) -> StackRule:
    """WARN(): the RIP (x86) or ``--- interrupt: N at`` (powerpc) line, then the
    stack; older kernels print only the stack (syzkaller's warningStackFmt)."""
    return StackRule(
        parts=(re.compile("(?:" + RIP_FRAME.pattern + r"|--- interrupt: [0-9]+ at ([a-zA-Z0-9_]+)(?:\.|\+))"), PARSE),
        parts2=(CALL_TRACE, PARSE),
        skip=tuple(skip),
    )


DEFAULT_RULE = StackRule(parts=(RIP_FRAME, CALL_TRACE, PARSE))


def _append(groups: Iterable[Optional[str]], skip: Pattern[str], out: List[str]) -> None:
    for name in groups:
        if name and not skip.search(name):
            out.append(name)


def _pick(frames: Sequence[str], rule: StackRule) -> Optional[str]:
    if not frames:
        return None
    if rule.extractor is None:
        return frames[0]
    return EXTRACTORS[rule.extractor](frames)


def _corrupted(line: str) -> bool:
    return any(c.search(line) for c in _CORRUPTED_LINES)


def _run(
    lines: Sequence[str], parts: Tuple[Part, ...], rule: StackRule, skip: Pattern[str]
) -> Tuple[Optional[str], bool]:
    """syzkaller's extractStackFrameImpl, up to the first key frame:
    -> (guilty function or None, whether the parts matched cleanly)."""
    raw: List[str] = []
    ok = True
    stacks = 0
    i, count = 0, len(lines)
    idx = 0
    while True:
        if idx == len(parts) or (parts[idx] is PARSE and stacks > 0):
            key = _pick(raw, rule)
            return key, ok and key is not None
        part = parts[idx]
        stack = isinstance(part, _Parse)
        nxt = parts[idx + 1] if stack and idx + 1 < len(parts) else None
        stacks += stack
        while i < count:
            line = lines[i]
            i += 1
            if _corrupted(line):
                ok = False
                break
            if not stack:
                m = part.search(line)  # type: ignore[union-attr]
                if m:
                    _append(m.groups(), skip, raw)
                    break
                continue
            if any(s.search(line) for s in _STACK_START):
                break
            if isinstance(nxt, re.Pattern):
                m = nxt.search(line)
                if m:
                    _append(m.groups(), skip, raw)
                    idx += 1  # the next part is consumed
                    break
            for frame_re in _FRAME_RES:
                m = frame_re.search(line)
                if m:
                    _append(m.groups(), skip, raw)
                    break
        idx += 1


def extract_guilty(lines: Sequence[str], rule: Optional[StackRule]) -> Optional[str]:
    """The guilty function of a report: ``lines`` start at its headline."""
    if rule is None:
        return None
    skip = rule.skip_re()
    found, ok = _run(lines, rule.parts, rule, skip)
    if not ok and rule.parts2:
        found, _ = _run(lines, rule.parts2, rule, skip)
    return found


# A structured stack (crash bt, a vmcore's unwind) carries no report lines: the
# panic kind picks the rule syzkaller uses for that kind of report.
_KIND_RULES: dict[str, StackRule] = {
    "soft-lockup": StackRule(parts=(), extractor="stall"),
    "hard-lockup": StackRule(parts=(), extractor="stall"),
    "stall": StackRule(parts=(), skip=("apic_timer_interrupt", "rcu"), extractor="stall"),
    "hung-task": StackRule(parts=(), extractor="hang"),
    "warn": StackRule(parts=()),
    "warn-panic": StackRule(parts=()),
    "memory-leak": StackRule(
        parts=(), skip=("kmemleak", "mmap", "kmem", "slab", "alloc", "create_object", "kasprintf", "strdup")
    ),
}


def rule_for_kind(kind: Optional[str]) -> StackRule:
    """The frame rule for a structured stack of a report of this kind (a PanicKind value)."""
    return _KIND_RULES.get(kind or "", DEFAULT_RULE)


def _base(name: str) -> str:
    return name.split(".", 1)[0]


def guilty_from_frames(
    function: Optional[str], frames: Sequence[str], rule: Optional[StackRule] = None
) -> Optional[str]:
    """The same choice over a structured stack: the trap site, then the frames
    (callee first, '?' frames already removed), generic machinery skipped."""
    rule = rule or DEFAULT_RULE
    skip = rule.skip_re()
    names = [n for n in (function, *frames) if n]
    kept = [n for n in names if not skip.search(_base(n))]
    # A stall's stack cut before its dispatch point still has a first real frame.
    return _pick(kept, rule) or (kept[0] if kept else None)
