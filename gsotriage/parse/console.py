"""The console/kernel-log scanner: a line-at-a-time state machine.

It keeps bounded state whatever the log size: the event being built, the
candidates for the fatal event (the one a ``Kernel panic`` ends, the first
oops, the last WARN) and at most ``MAX_EVENTS`` one-line summaries.

Fatal event: the one followed by ``Kernel panic - not syncing``, else the first
oops-class event, else the last WARN-class one. ``info`` events (hung-task
reports, oom-killer invocations, ``sysrq: Trigger a crash``) are fatal only when
a panic ends them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

from gsotriage.model import Event, PanicKind, StackContext

from .event import MAX_FRAMES, EventBuilder, SkbBuilder
from .frames import match_frame, match_marker, match_pc_line, match_trace_start
from .headlines import CONT, INFO, OOPS, WARN, Headline, PanicRule, match_headline, match_panic
from .kernel_info import CpuLine, match_banner, match_cpu_line, match_hardware, match_taint_line
from .registers import match_registers
from .skbdump import match_skb_line

__all__ = ["MAX_EVENTS", "ConsoleResult", "ConsoleScanner"]

MAX_EVENTS = 64
_CLASS_RANK = {INFO: 0, WARN: 1, OOPS: 2}
_END_TRACE = re.compile(r"^-+\[ end trace")
_MODULES = re.compile(r"^Modules linked in:(?P<mods>.*)$")
_LAST_UNLOADED = re.compile(r"\[last unloaded: [^\]]*\]")
_MODULE_TOKEN = re.compile(r"^(?P<name>[\w-]+)(?:\((?P<flags>[A-Z+-]+)\))?$")
_CODE = re.compile(r"^Code: ")
_WRAPPED_SOURCE = re.compile(r"^(?:[\w./+-]+\.[chS]:\d+(?: \(discriminator \d+\))?\s*)+\)?$")
# Only unmistakable frame lines open a trace that has no "Call Trace:" header:
# "func+0xoff/0xsize ..." or "func file.c:123 [inline]".
_HEADERLESS_FRAME = re.compile(
    r"^(?:\? )?[A-Za-z_.$][\w.$]*(?:\+0x[0-9a-f]+/0x[0-9a-f]+(?:\s|$)| \S+\.[chS]:\d+ \[inline\]$)"
)
_TERMINATOR = re.compile(r"^(?:-+\[ end trace|Modules linked in:|Kernel panic - not syncing)")
# Functions whose oops *is* a deliberate crash (old kernels oops on purpose).
_FUNCTION_KINDS = {"sysrq_handle_crash": PanicKind.SYSRQ}
_SKB_ATTACH_AFTER = 10  # an skb line this close after a headline belongs to it
_SKB_ATTACH_BEFORE = 25  # skb_dump() runs just before its WARN


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
        self.panicked: Optional[EventBuilder] = None
        self.summaries: List[tuple[EventBuilder, Event]] = []
        self.dropped = 0
        self.events_seen = 0
        self.pending_skb: Optional[SkbBuilder] = None
        self.active_skb: Optional[SkbBuilder] = None
        self.result = ConsoleResult(None, [], 0)

    # ------------------------------------------------------------------ feeding

    def feed(self, n: int, line: str) -> None:
        self.result.lines += 1
        cur = self.current
        if cur is not None:
            cur.last_line = n
            if cur.trace == "open":
                if self._trace_line(cur, line):
                    return
                cur.trace = "closed"
                # A trace still inside <TASK>/<IRQ> ends normally only at a terminator;
                # anything else (a new oops, a cut line) leaves it unfinished.
                cur.frames_complete = not cur.contexts or bool(_TERMINATOR.match(line))
        hm = match_headline(line)
        if hm is not None:
            self._headline(n, line, *hm)
            return
        pm = match_panic(line)
        if pm is not None:
            self._panic(n, line, *pm)
            return
        if not line or _CODE.match(line):
            return
        self._detail(n, line)

    def _target(self, n: int) -> Optional[EventBuilder]:
        """The event detail lines belong to; before any headline, an orphan."""
        if self.current is not None:
            return self.current
        if self.orphan is None:
            self.orphan = EventBuilder("(oops headline not shown)", "orphan", None, "orphan", n, last_line=n)
        self.current = self.orphan
        return self.orphan

    def _detail(self, n: int, line: str) -> None:
        cur = self.current
        start = match_trace_start(line)
        if start is not None:
            ev = self._target(n)
            if ev is not None and ev.headerless_trace and not ev.closed:
                # What looked like a quoted trace was a wrapped line; the real one starts here.
                ev.frames.clear()
                ev.contexts.clear()
                ev.headerless_trace = False
                ev.trace = "none"
            if ev is not None and ev.trace == "none" and not ev.closed:
                ev.trace = "open"
                if start.strip():
                    self._trace_line(ev, start.strip())
            return
        if (
            cur is not None
            and cur.trace == "none"
            and not cur.closed
            and cur.headline != "orphan"
            and _HEADERLESS_FRAME.match(line)
        ):
            # Commit messages and mails often quote the frames without the "Call Trace:" line.
            cur.trace = "open"
            cur.headerless_trace = True
            self._trace_line(cur, line)
            return
        pc = match_pc_line(line)
        if pc is not None:
            ev = self._target(n)
            if ev is not None and not ev.closed:
                ev.fill(function=pc.function, offset=pc.offset, size=pc.size, module=pc.module, arch=pc.arch)
            return
        regs = match_registers(line)
        if regs is not None:
            ev = self._target(n)
            if ev is not None and not ev.closed and ev.trace == "none":
                for name, value in regs.items():
                    ev.registers.setdefault(name, value)
                if "X29" in regs or "PSTATE" in regs:
                    ev.fill(arch="arm64")
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
            return
        if _END_TRACE.match(line):
            if cur is not None:
                cur.closed = True
            return
        if self._simple_lines(cur, line):
            return
        self._skb_line(n, line)

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

    def _trace_line(self, ev: EventBuilder, line: str) -> bool:
        """Consume a line of an open Call Trace; False when the trace has ended."""
        if not line:
            return bool(ev.contexts)  # blank lines inside <TASK> are noise
        marker = match_marker(line)
        if marker is not None:
            action, context, rest = marker
            if action == "close":
                if ev.contexts:
                    ev.contexts.pop()
                if context is StackContext.TASK:
                    ev.trace = "closed"
                    ev.frames_complete = True
                    return True
            elif action == "reset":
                ev.contexts = []
            else:
                ev.contexts.append(context)
            rest = rest.strip()
            return self._trace_line(ev, rest) if rest else True
        frame = match_frame(line, ev.context)
        if frame is not None:
            if len(ev.frames) < MAX_FRAMES:
                ev.frames.append(frame)
            else:
                ev.frames_truncated = True
            return True
        # A decoded "(file:line file:line)" location that a mailer wrapped onto its own line.
        if _WRAPPED_SOURCE.match(line):
            return True
        # pt_regs of an interrupted context printed inside the trace (user RIP, idle RIP).
        return bool(_CODE.match(line) or match_pc_line(line) or match_registers(line) or line.startswith("RIP: "))

    # ---------------------------------------------------------------- headlines

    def _headline(self, n: int, line: str, headline: Headline, m: re.Match[str]) -> None:
        groups = m.groupdict()
        cur = self.current
        joins = headline.joins
        if headline.klass == CONT or joins:
            if cur is not None and cur.headline != "orphan" and cur.fresh and (joins is None or cur.headline in joins):
                self._fill_from_groups(cur, groups, override=headline.overrides_address)
                if _CLASS_RANK.get(headline.klass, -1) > _CLASS_RANK.get(cur.klass, -1):
                    cur.klass = headline.klass
                cur.is_warn = cur.is_warn or headline.is_warn
                return
            if headline.klass == CONT and not headline.standalone:
                return
        klass = OOPS if headline.klass == CONT else headline.klass
        ev = EventBuilder(line[:300], headline.name, headline.kind, klass, n, is_warn=headline.is_warn, last_line=n)
        self._fill_from_groups(ev, groups, override=False)
        pending = self.pending_skb
        if pending is not None and n - pending.line <= _SKB_ATTACH_BEFORE:
            ev.skbs.append(pending)
        self.pending_skb = None
        self._push(ev)

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

    def _panic(self, n: int, line: str, msg: str, rule: PanicRule) -> None:
        if self.panicked is not None:
            return  # only the first panic counts
        target = self.current
        if target is not None and target.headline == "orphan":
            target = None
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
            return
        kind = rule.kind if rule.kind not in (None, PanicKind.WARN_PANIC) else PanicKind.OTHER
        ev = EventBuilder(line[:300], "panic", kind, OOPS, n, last_line=n, panic_message=msg)
        self._push(ev)
        self.panicked = ev

    def _push(self, ev: EventBuilder) -> None:
        if self.current is not None:
            self._retire(self.current)
        self.current = ev
        self.events_seen += 1

    def _retire(self, ev: EventBuilder) -> None:
        if ev.headline == "orphan":
            return
        if ev.trace == "open":
            ev.trace = "closed"
            ev.frames_complete = False
        if ev.klass == OOPS and self.first_oops is None:
            self.first_oops = ev
        if ev.klass == WARN:
            self.last_warn = ev
        if len(self.summaries) < MAX_EVENTS:
            self.summaries.append((ev, _summary(ev)))
        else:
            self.dropped += 1

    # ------------------------------------------------------------------- result

    def finish(self) -> ConsoleResult:
        cur = self.current
        if cur is not None and cur.trace == "open":
            cur.trace = "closed"
            cur.frames_complete = False
            cur.frames_truncated = True
        if cur is not None:
            self._retire(cur)
        fatal = self.panicked or self.first_oops or self.last_warn
        if fatal is None and self.orphan is not None and self.orphan.function is not None:
            fatal = self.orphan
            self.result.headless = True
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
        result = self.result
        result.fatal = fatal
        # Re-summarise: the fatal event's kind may have changed after retirement.
        result.others = [summary for ev, summary in self.summaries if ev is not fatal]
        result.dropped_events = self.dropped
        return result


def _summary(ev: EventBuilder) -> Event:
    return Event(title=ev.title, kind=ev.kind, function=ev.function, line=ev.line)


def _int(text: Optional[str], base: int = 10) -> Optional[int]:
    return int(text, base) if text is not None else None
