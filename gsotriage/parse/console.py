"""The console/kernel-log scanner: a line-at-a-time state machine.

It keeps bounded state whatever the log size: the event being built, the
candidates for the fatal event (the one a ``Kernel panic`` ends, the first
oops, the last WARN, the first other bug report) and at most ``MAX_EVENTS``
one-line summaries. Nothing recurses: stack-context markers are a loop.

Fatal event: the one followed by ``Kernel panic - not syncing``, else the first
oops-class event, else the last WARN-class one, else the first ``report``
(hung task, RCU stall, lockdep, kmemleak). ``info`` events (oom-killer
invocations, ``sysrq: Trigger a crash``) are fatal only when a panic ends them.

Lines other CPUs or subsystems print into the middle of a report are told
apart by their caller id when the log has one (``[ T123]``, ``[    C3]``), and
otherwise tolerated inside a call trace: a trace ends only when no frame
follows within ``MAX_TRACE_GAP`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from gsotriage.model import Event, PanicKind

from .event import EventBuilder, SkbBuilder
from .frames import match_pc_line, match_trace_start
from .guilty import DEFAULT_RULE, extract_guilty
from .headlines import CONT, INFO, OOPS, REPORT, WARN, Headline, PanicRule, match_headline, match_panic
from .kernel_info import CpuLine, match_banner, match_cpu_line, match_hardware, match_taint_line
from .registers import match_registers
from .skbdump import match_skb_line
from .trace import CODE_LINE, LooseFrames, close_trace, end_trace, interrupting, read_trace_line, trace_gap

__all__ = ["MAX_EVENTS", "ConsoleResult", "ConsoleScanner"]

MAX_EVENTS = 64
ACTIVE_WINDOW = 60  # lines after an event's last useful line during which every line is read
_CLASS_RANK = {INFO: 0, REPORT: 1, WARN: 2, OOPS: 3}
_END_TRACE = re.compile(r"^-+\[ end trace")
_MODULES = re.compile(r"^Modules linked in:(?P<mods>.*)$")
_LAST_UNLOADED = re.compile(r"\[last unloaded: [^\]]*\]")
_MODULE_TOKEN = re.compile(r"^(?P<name>[\w-]+)(?:\((?P<flags>[A-Z+-]+)\))?$")
# Only unmistakable frame lines open a trace that has no "Call Trace:" header:
# "func+0xoff/0xsize ..." or "func file.c:123 [inline]".
_HEADERLESS_FRAME = re.compile(
    r"^(?:\? )?[A-Za-z_.$][\w.$]*(?:\+0x[0-9a-f]+/0x[0-9a-f]+(?:\s|$)| \S+\.[chS]:\d+ \[inline\]$)"
)
# Functions whose oops *is* a deliberate crash (old kernels oops on purpose).
_FUNCTION_KINDS = {"sysrq_handle_crash": PanicKind.SYSRQ}
_SKB_ATTACH_AFTER = 10  # an skb line this close after a headline belongs to it
_SKB_ATTACH_BEFORE = 25  # skb_dump() runs just before its WARN
_CPU_EXCERPT = 3  # frames this close after a "CPU:" line are a quoted stack dump
_KMSAN_MIN_LINES = 16


@dataclass
class ConsoleResult:
    fatal: Optional[EventBuilder]
    others: List[Event]
    dropped_events: int
    banner_release: Optional[str] = None
    banner_version: Optional[str] = None
    banner_signature: Optional[str] = None
    cpu_line: Optional[CpuLine] = None
    hardware: Optional[str] = None
    taint_long: Optional[str] = None
    modules: Optional[List[str]] = None
    oot_modules: Optional[List[str]] = None
    headless: bool = False
    lines: int = 0
    notes: List[str] = field(default_factory=list)
    limits: List[str] = field(default_factory=list)


def parse_modules(text: str) -> tuple[List[str], List[str]]:
    names: List[str] = []
    oot: List[str] = []
    for token in _LAST_UNLOADED.sub(" ", text).split():
        m = _MODULE_TOKEN.match(token)
        if not m:
            continue
        names.append(m.group("name"))
        if "O" in (m.group("flags") or ""):
            oot.append(m.group("name"))
    return names, oot


class ConsoleScanner:
    def __init__(self) -> None:
        self.current: Optional[EventBuilder] = None
        self.orphan: Optional[EventBuilder] = None  # oops parts seen before any headline
        self.first_oops: Optional[EventBuilder] = None
        self.last_warn: Optional[EventBuilder] = None
        self.first_report: Optional[EventBuilder] = None
        self.panicked: Optional[EventBuilder] = None
        self.last_oops: Optional[EventBuilder] = None  # the latest oops-class event, current or not
        self.run_start: Optional[EventBuilder] = None  # the first of the latest run of same-kind events
        self.by_caller: Dict[str, EventBuilder] = {}  # the latest event each caller id printed (bounded)
        self.summaries: List[tuple[EventBuilder, Event]] = []
        self.dropped = 0
        self.events_seen = 0
        self.pending_skb: Optional[SkbBuilder] = None
        self.active_skb: Optional[SkbBuilder] = None
        self.recent_cpu: Optional[Tuple[int, CpuLine]] = None  # a "CPU:" line no event claimed
        self.loose = LooseFrames()
        self.last_n = 0
        self.result = ConsoleResult(None, [], 0)

    # ------------------------------------------------------------------ feeding

    @property
    def idle(self) -> bool:
        """True when only a line with a keyword can change anything (see lines.KEYWORDS)."""
        n = self.last_n
        cur = self.current
        if cur is not None and not cur.closed and (cur.trace == "open" or n - cur.touched <= ACTIVE_WINDOW):
            return False
        if self.active_skb is not None and not self.active_skb.closed and n - self.active_skb.line <= 12:
            return False
        return self.recent_cpu is None or n - self.recent_cpu[0] > _CPU_EXCERPT

    def feed(self, n: int, line: str, caller: Optional[str] = None, quoted: bool = False) -> None:
        self.result.lines += 1
        self.last_n = n
        cur = self.current
        foreign = cur is not None and _foreign(cur, caller)
        if cur is not None and not foreign:
            cur.last_line = n
            if "Sending NMI from CPU" in line:
                cur.nmi_traceback = True
            if cur.trace == "open":
                if self._trace_line(cur, n, line):
                    self._record(cur, line)
                    return
        hm = match_headline(line)
        if hm is not None and cur is not None and cur.trace == "open" and not interrupting(hm[0]):
            # Another CPU's periodic message inside a call trace: not a new report.
            hm = None
            if not foreign:
                trace_gap(cur, line, blank=False)
                return
        if hm is not None:
            close_trace(cur, line)
            self._headline(n, line, caller, quoted, *hm)
            if self.current is not None and not _foreign(self.current, caller):
                self._record(self.current, line)
            return
        pm = match_panic(line)
        if pm is not None:
            close_trace(cur, line)
            self._panic(n, line, caller, *pm)
            return
        if foreign:
            return
        if cur is not None:
            self._record(cur, line)
        if not line or CODE_LINE.match(line):
            return
        self._detail(n, line, caller, quoted)

    def _record(self, ev: EventBuilder, line: str) -> None:
        if ev.trace != "open" and self.last_n - ev.touched > ACTIVE_WINDOW:
            ev.report_done = True  # the report has ended; what follows is not part of it
        ev.record(line, _KMSAN_MIN_LINES if ev.kind is PanicKind.KMSAN else 22)

    def _target(self, n: int, caller: Optional[str], quoted: bool) -> Optional[EventBuilder]:
        """The event detail lines belong to; before any headline, an orphan."""
        if self.current is not None:
            return self.current
        if self.orphan is None:
            self.orphan = EventBuilder("(oops headline not shown)", "orphan", None, "orphan", n, last_line=n)
            self.orphan.caller = caller
            self.orphan.quoted = quoted
            self.orphan.rule = DEFAULT_RULE
        self.current = self.orphan
        return self.orphan

    def _detail(self, n: int, line: str, caller: Optional[str], quoted: bool) -> None:
        cur = self.current
        start = match_trace_start(line)
        if start is not None:
            ev = self._target(n, caller, quoted)
            if ev is not None and ev.headerless_trace and not ev.closed:
                # What looked like a quoted trace was a wrapped line; the real one starts here.
                ev.frames.clear()
                ev.contexts.clear()
                ev.headerless_trace = False
                ev.trace = "none"
            if ev is not None and ev.trace == "none" and not ev.closed:
                ev.trace = "open"
                ev.touched = n
                if ev is self.orphan and ev.cpu is None and self.recent_cpu is not None:
                    self._claim_cpu_line(ev)
                if start.strip():
                    self._trace_line(ev, n, start.strip())
            return
        if _HEADERLESS_FRAME.match(line):
            if cur is not None and cur.trace == "none" and not cur.closed and cur.headline != "orphan":
                # Commit messages and mails often quote the frames without the "Call Trace:" line.
                cur.trace = "open"
                cur.headerless_trace = True
                self._trace_line(cur, n, line)
                return
            if (cur is None or cur.closed) and (self.recent_cpu is None or n - self.recent_cpu[0] > _CPU_EXCERPT):
                self.loose.add(n, line)
                return
            if cur is None and self.recent_cpu is not None and n - self.recent_cpu[0] <= _CPU_EXCERPT:
                # A stack dump quoted from its "CPU:" line on, without its headline.
                ev = self._target(n, caller, quoted)
                if ev is not None:
                    self._claim_cpu_line(ev)
                    ev.trace = "open"
                    ev.headerless_trace = True
                    self._trace_line(ev, n, line)
                return
        pc = match_pc_line(line)
        if pc is not None:
            ev = self._target(n, caller, quoted)
            if ev is not None and not ev.closed:
                ev.fill(function=pc.function, offset=pc.offset, size=pc.size, module=pc.module, arch=pc.arch)
                ev.touched = n
            return
        regs = match_registers(line)
        if regs is not None:
            ev = self._target(n, caller, quoted)
            if ev is not None and not ev.closed and ev.trace == "none":
                for name, value in regs.items():
                    ev.registers.setdefault(name, value)
                if "X29" in regs or "PSTATE" in regs:
                    ev.fill(arch="arm64")
                ev.touched = n
            return
        cpu = match_cpu_line(line)
        if cpu is not None:
            if self.result.cpu_line is None or self.result.cpu_line.release is None:
                self.result.cpu_line = cpu
            ev = cur
            if ev is not None and not ev.closed:
                if ev.pid is None or ev.pid == cpu.pid:  # not the khungtaskd/panic CPU line
                    ev.fill(cpu=cpu.cpu, pid=cpu.pid, comm=cpu.comm)
                ev.fill(taint=cpu.taint, release=cpu.release, version=cpu.version)
                ev.touched = n
            elif ev is None:
                self.recent_cpu = (n, cpu)
            return
        if _END_TRACE.match(line):
            if cur is not None:
                cur.closed = True
            return
        if self._simple_lines(cur, line):
            return
        self._skb_line(n, line)

    def _claim_cpu_line(self, ev: EventBuilder) -> None:
        if self.recent_cpu is None:
            return
        cpu = self.recent_cpu[1]
        ev.fill(cpu=cpu.cpu, pid=cpu.pid, comm=cpu.comm, taint=cpu.taint, release=cpu.release, version=cpu.version)
        self.recent_cpu = None

    def _simple_lines(self, cur: Optional[EventBuilder], line: str) -> bool:
        hw = match_hardware(line)
        if hw is not None:
            self.result.hardware = self.result.hardware or hw
            if cur is not None:
                cur.fill(hardware=hw)
            return True
        taint = match_taint_line(line)
        if taint is not None:
            self.result.taint_long = self.result.taint_long or taint
            return True
        mm = _MODULES.match(line)
        if mm:
            names, oot = parse_modules(mm.group("mods"))
            if self.result.modules is None:
                self.result.modules, self.result.oot_modules = names, oot
            if cur is not None and cur.modules is None and not cur.closed:
                cur.modules, cur.oot_modules = names, oot
            return True
        if line.startswith("Linux version "):
            banner = match_banner(line)
            if banner is not None and self.result.banner_release is None:
                self.result.banner_release, self.result.banner_version, self.result.banner_signature = banner
            return True
        return False

    def _skb_line(self, n: int, line: str) -> None:
        sl = match_skb_line(line)
        if sl is None:
            return
        if sl.name == "fraglist":
            if self.active_skb is not None:
                self.active_skb.closed = True
            return
        if sl.name in ("start", "warn-line"):
            skb = SkbBuilder(sl.origin, n)
            skb.add(sl.fields)
            self.active_skb = skb
            cur = self.current
            if cur is not None and not cur.closed and n - cur.line <= _SKB_ATTACH_AFTER:
                if len(cur.skbs) < 4:
                    cur.skbs.append(skb)
            else:
                self.pending_skb = skb
            return
        active = self.active_skb
        if active is not None and n - active.line <= 12:
            active.add(sl.fields)

    def _trace_line(self, ev: EventBuilder, n: int, line: str) -> bool:
        return read_trace_line(ev, n, line, self._limit)

    # ---------------------------------------------------------------- headlines

    def _headline(
        self, n: int, line: str, caller: Optional[str], quoted: bool, headline: Headline, m: re.Match[str]
    ) -> None:
        groups = m.groupdict()
        cur = self.current
        joins = headline.joins
        if headline.klass == CONT or joins:
            if (
                cur is not None
                and cur.headline != "orphan"
                and cur.fresh
                and (joins is None or cur.headline in joins)
                and not _foreign(cur, caller)
            ):
                self._fill_from_groups(cur, groups, override=headline.overrides_address)
                klass = OOPS if headline.klass == CONT else headline.klass
                if _CLASS_RANK.get(klass, -1) > _CLASS_RANK.get(cur.klass, -1):
                    cur.klass = klass
                    if klass == OOPS:
                        self.last_oops = cur
                if headline.kind is PanicKind.BUG and cur.kind in (None, PanicKind.OTHER):
                    cur.kind = PanicKind.BUG  # "Internal error: Oops - BUG" after a bare headline
                cur.is_warn = cur.is_warn or headline.is_warn
                cur.touched = n
                return
            if headline.klass == CONT and not headline.standalone:
                return
        if self._inline_chain(cur, n, line, headline, groups):
            return
        klass = OOPS if headline.klass == CONT else headline.klass
        ev = EventBuilder(line[:300], headline.name, headline.kind, klass, n, is_warn=headline.is_warn, last_line=n)
        ev.caller, ev.quoted, ev.touched = caller, quoted, n
        ev.rule = headline.rule_for(line)
        if headline.guilty_group:
            ev.guilty = groups.get(headline.guilty_group)
        self._fill_from_groups(ev, groups, override=False)
        pending = self.pending_skb
        if pending is not None and n - pending.line <= _SKB_ATTACH_BEFORE:
            ev.skbs.append(pending)
        self.pending_skb = None
        if self.recent_cpu is not None and n - self.recent_cpu[0] <= 2:
            self.recent_cpu = None  # a dump_stack() header printed just before the headline (ppc, arm)
        self._push(ev)

    @staticmethod
    def _inline_chain(
        cur: Optional[EventBuilder], n: int, line: str, headline: Headline, groups: dict[str, Optional[str]]
    ) -> bool:
        """KASAN/KMSAN/UBSAN print one headline per function of an inline chain, each
        "in FUNC file:line [inline]", the physical function last: one report, whose
        site is the last function, with the others inlined into it."""
        func = groups.get("func")
        if (
            cur is None
            or func is None
            or cur.headline != headline.name
            or cur.function is None
            or cur.frames
            or not cur.fresh
            or n - cur.last_line > 1
            or not cur.title.rstrip().endswith("[inline]")
        ):
            return False
        cur.inlined.append(cur.function)
        cur.function, cur.offset, cur.size = func, _int(groups.get("off"), 16), _int(groups.get("size"), 16)
        cur.title = line[:300]
        cur.last_line = cur.touched = n
        return True

    @staticmethod
    def _fill_from_groups(ev: EventBuilder, groups: dict[str, Optional[str]], override: bool) -> None:
        addr = groups.get("addr")
        if addr is not None:
            value = 0 if addr == "(null)" else int(addr, 16)
            if override:
                ev.fault_address = value
            else:
                ev.fill(fault_address=value)
        ev.fill(
            bug_file=groups.get("file"),
            bug_line=_int(groups.get("line")),
            function=groups.get("func"),
            offset=_int(groups.get("off"), 16),
            size=_int(groups.get("size"), 16),
            module=groups.get("mod"),
        )
        if ev.pid is None and groups.get("pid") is not None:
            ev.fill(cpu=_int(groups.get("cpu")), pid=_int(groups.get("pid")), comm=groups.get("comm"))

    def _panic_target(self, n: int, rule: PanicRule, caller: Optional[str]) -> Optional[EventBuilder]:
        target = self._panic_target_by_rule(n, rule)
        if caller is not None and (target is None or (target.caller is not None and target.caller != caller)):
            # The task that panics is the one whose report it ends (two CPUs oopsing at once).
            mine = self.by_caller.get(caller)
            if mine is not None and mine.panic_message is None and n - mine.touched <= 10 * ACTIVE_WINDOW:
                return mine
        return target

    def _panic_target_by_rule(self, n: int, rule: PanicRule) -> Optional[EventBuilder]:
        cur = self.current
        if cur is not None and cur.headline == "orphan":
            cur = None
        if rule.attach == "oops":
            last = self.last_oops
            if (cur is None or cur.klass != OOPS) and last is not None and n - last.touched <= 10 * ACTIVE_WINDOW:
                return last
            return cur
        if rule.attach == "run":
            first = self.run_start
            return first if first is not None and cur is not None and first.kind is cur.kind else cur
        if rule.attach == "recent":
            if cur is not None and cur.klass != INFO and n - cur.touched <= ACTIVE_WINDOW:
                return cur
            return None
        return cur

    def _panic(self, n: int, line: str, caller: Optional[str], msg: str, rule: PanicRule, m: re.Match[str]) -> None:
        if self.panicked is not None:
            return  # only the first panic counts
        target = self._panic_target(n, rule, caller)
        if (
            target is not None
            and target.panic_message is None
            and (rule.follows is None or target.kind in rule.follows)
        ):
            target.panic_message = msg
            if rule.kind is PanicKind.WARN_PANIC:
                if target.is_warn:
                    target.kind = PanicKind.WARN_PANIC
            elif rule.kind is not None and target.kind in (None, PanicKind.OTHER):
                target.kind = rule.kind
            self.panicked = target
            if not _foreign(target, caller):
                self._record(target, line)
            return
        kind = rule.kind if rule.kind not in (None, PanicKind.WARN_PANIC) else PanicKind.OTHER
        ev = EventBuilder(line[:300], "panic", kind, OOPS, n, last_line=n, panic_message=msg)
        ev.caller, ev.touched, ev.rule = caller, n, rule.stack
        groups = m.groupdict()
        if rule.guilty_group and groups.get(rule.guilty_group):
            ev.guilty = groups[rule.guilty_group]
            # __stack_chk_fail() names the function whose stack canary was overwritten.
            ev.fill(function=groups[rule.guilty_group])
        self._push(ev)
        self._record(ev, line)
        self.panicked = ev

    def _push(self, ev: EventBuilder) -> None:
        prev = self.current
        if prev is not None:
            self._retire(prev)
        if prev is None or self.run_start is None or prev.kind is not ev.kind or prev.headline == "orphan":
            self.run_start = ev
        if ev.klass == OOPS:
            self.last_oops = ev
        if ev.caller is not None:
            self.by_caller.pop(ev.caller, None)
            self.by_caller[ev.caller] = ev
            if len(self.by_caller) > 32:
                del self.by_caller[next(iter(self.by_caller))]
        self.current = ev
        self.events_seen += 1

    def _retire(self, ev: EventBuilder) -> None:
        if ev.trace == "open":
            if ev.trace_gap:
                end_trace(ev, complete=ev.gap_complete)
            else:
                end_trace(ev, complete=False)
        if ev.guilty is None:
            ev.guilty = extract_guilty(ev.report, ev.rule)
        if ev.report_cut:
            self._limit(f"a report longer than {len(ev.report)} lines: its guilty frame was chosen from those")
        ev.report = []  # the lines served their purpose; keep memory bounded
        if ev.headline == "orphan":
            return
        if ev.klass == OOPS and self.first_oops is None:
            self.first_oops = ev
        if ev.klass == WARN:
            self.last_warn = ev
        if ev.klass == REPORT and self.first_report is None:
            self.first_report = ev
        if len(self.summaries) < MAX_EVENTS:
            self.summaries.append((ev, _summary(ev)))
        else:
            self.dropped += 1

    def _limit(self, sentence: str) -> None:
        if sentence not in self.result.limits:
            self.result.limits.append(sentence)

    # ------------------------------------------------------------------- result

    def finish(self) -> ConsoleResult:
        cur = self.current
        if cur is not None and cur.trace == "open":
            if cur.trace_gap:
                end_trace(cur, complete=cur.gap_complete)
            else:
                end_trace(cur, complete=False)
                cur.frames_truncated = True
        if cur is not None:
            self._retire(cur)
        if self.orphan is not None and self.orphan is not cur:
            self._retire(self.orphan)
        fatal = self.panicked or self.first_oops or self.last_warn or self.first_report
        orphan = self.orphan
        if fatal is None and orphan is not None and (orphan.function is not None or _orphan_is_a_crash(orphan)):
            fatal = orphan
            self.result.headless = True
            if fatal.kind is None:
                fatal.kind = PanicKind.OTHER  # a crash whose headline is not shown: kind unknown
        if (
            fatal is not None
            and fatal.function in _FUNCTION_KINDS
            and fatal.kind
            in (
                PanicKind.NULL_DEREF,
                PanicKind.PAGING_FAULT,
                PanicKind.OTHER,
            )
        ):
            fatal.kind = _FUNCTION_KINDS[fatal.function]
        if fatal is not None:
            self.loose.claim(fatal)
        result = self.result
        result.fatal = fatal
        # Re-summarise: the fatal event's kind may have changed after retirement.
        result.others = [summary for ev, summary in self.summaries if ev is not fatal]
        result.dropped_events = self.dropped
        if self.dropped:
            self._limit(f"more than {MAX_EVENTS} events: {self.dropped} further events not listed")
        return result


# Frames of the kernel's own oops path: a stack that shows them is a crash, not a dump_stack().
_DIE_PATH = frozenset(
    "die __die oops_end die_kernel_fault __do_kernel_fault do_page_fault page_fault_oops no_context "
    "do_kernel_fault bad_page_fault el1h_64_sync el1_sync el1_abort do_mem_abort exc_page_fault "
    "asm_exc_page_fault exc_general_protection asm_exc_general_protection do_general_protection "
    "exc_invalid_op asm_exc_invalid_op do_invalid_op bug_handler do_undefinstr panic".split()
)


def _orphan_is_a_crash(ev: EventBuilder) -> bool:
    """A stack with no headline is a crash when it shows the oops path, or
    when someone quoted it (a mail or ticket reports the trace it pastes)."""
    if not ev.frames:
        return False
    if ev.quoted:
        return True
    return any(f.function.split(".", 1)[0] in _DIE_PATH for f in ev.frames[:32])


def _foreign(ev: EventBuilder, caller: Optional[str]) -> bool:
    """A line another task or CPU printed while ``ev`` was being reported."""
    if ev.caller is None or caller is None or caller == ev.caller:
        return False
    return not (ev.nmi_traceback and caller.startswith("C"))


def _summary(ev: EventBuilder) -> Event:
    return Event(title=ev.title, kind=ev.kind, function=ev.function, line=ev.line)


def _int(text: Optional[str], base: int = 10) -> Optional[int]:
    return int(text, base) if text is not None else None
