"""Oops headlines and panic messages, as data (syzkaller pkg/report style).

A *headline* starts (or, for continuation lines, completes) an event. Named
groups fill event fields: ``addr`` (fault address, hex), ``file``/``line``
(BUG/WARN site), ``func``/``off``/``size``/``mod`` (the exception function),
``cpu``/``pid``/``comm``.

Event classes decide which event is the fatal one (see ``console.py``):
``oops`` (the first one wins), ``warn`` (the last one wins), ``info``
(fatal only when a ``Kernel panic`` follows it), ``cont`` (a line that belongs
to the event just started, such as ``Oops: 0000 [#1]`` after a ``BUG:``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import FrozenSet, Optional, Pattern, Tuple

from gsotriage.model import PanicKind

__all__ = ["HEADLINES", "PANICS", "Headline", "PanicRule", "match_headline", "match_panic"]

OOPS, WARN, INFO, CONT = "oops", "warn", "info", "cont"

_HEX = r"(?:0x)?[0-9a-fA-F]+"
_FN = r"(?P<func>[A-Za-z_.$][\w.$]*)"
_FN_OFF = _FN + r"\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)(?: \[(?P<mod>[\w-]+)\])?"


@dataclass(frozen=True)
class Headline:
    name: str
    pattern: Pattern[str]
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


def _h(
    name: str,
    pattern: str,
    kind: Optional[PanicKind],
    klass: str,
    joins: Optional[FrozenSet[str]] = frozenset(),
    overrides_address: bool = False,
    is_warn: bool = False,
    standalone: bool = True,
) -> Headline:
    return Headline(name, re.compile(pattern), kind, klass, joins, overrides_address, is_warn, standalone)


K = PanicKind
_ANY = None
_SYSRQ = frozenset({"sysrq"})  # old kernels: the NULL deref *is* the sysrq crash

HEADLINES: Tuple[Headline, ...] = (
    # --- x86 page faults
    _h("null-deref", rf"^BUG: kernel NULL pointer dereference, address: (?P<addr>{_HEX})", K.NULL_DEREF, OOPS, _SYSRQ),
    _h(
        "null-deref-old",
        r"^BUG: unable to handle kernel NULL pointer dereference at (?P<addr>[0-9a-fA-F]+|\(null\))",
        K.NULL_DEREF,
        OOPS,
        _SYSRQ,
    ),
    _h("page-fault", rf"^BUG: unable to handle page fault for address: (?P<addr>{_HEX})", K.PAGING_FAULT, OOPS),
    _h(
        "paging-request-old", rf"^BUG: unable to handle kernel paging request at (?P<addr>{_HEX})", K.PAGING_FAULT, OOPS
    ),
    # --- arm64 (and other arches) faults
    _h(
        "arm64-null-deref",
        rf"^Unable to handle kernel NULL pointer dereference at virtual address (?P<addr>{_HEX})",
        K.NULL_DEREF,
        OOPS,
    ),
    # arm64 names the access ("paging request", "read from unreadable memory",
    # "write to read-only memory", ...); an address below one page is a NULL
    # dereference whatever the wording (assemble.py applies that rule).
    _h(
        "arm64-paging",
        rf"^Unable to handle kernel (?:[a-z][a-z -]*?)(?: at virtual address (?P<addr>{_HEX}))?$",
        K.PAGING_FAULT,
        OOPS,
    ),
    # --- BUG() / GPF / KASAN
    _h("kernel-bug", r"^kernel BUG at (?P<file>[^\s:]+):(?P<line>\d+)!", K.BUG, OOPS),
    _h(
        "gpf",
        rf"^(?:Oops: )?general protection fault(?:, probably for non-canonical address (?P<addr>{_HEX}))?:",
        K.GPF,
        OOPS,
    ),
    _h("kasan", rf"^BUG: KASAN: [\w-]+ in {_FN}(?:\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+))?", K.KASAN, OOPS),
    # --- watchdogs, hung tasks
    _h(
        "soft-lockup",
        r"^(?:watchdog: |NMI watchdog: )?BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for \d+s!"
        r" \[(?P<comm>.+):(?P<pid>\d+)\]",
        K.SOFT_LOCKUP,
        WARN,
    ),
    _h(
        "hard-lockup",
        r"^(?:NMI watchdog: |watchdog: )?Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)",
        K.HARD_LOCKUP,
        WARN,
    ),
    _h("hung-task", r"^INFO: task (?P<comm>.+):(?P<pid>\d+) blocked for more than \d+ seconds\.", K.HUNG_TASK, INFO),
    # --- deliberate / resource / hardware
    _h("sysrq", r"^(?:sysrq: )?(?:SysRq : )?Trigger a crash", K.SYSRQ, INFO),
    _h("oom-killer", r"^(?P<comm>\S+) invoked oom-killer:", K.OOM, INFO),
    _h("mce", r"^mce: \[Hardware Error\]:", K.MCE, INFO, frozenset({"mce"})),
    # --- WARN()
    _h(
        "refcount",
        r"^refcount_t: (?:underflow|overflow|saturated|addition on 0|decrement hit 0)",
        K.WARN,
        WARN,
        is_warn=True,
    ),
    _h(
        "warning",
        rf"^WARNING: CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at (?P<file>[^\s:]+):(?P<line>\d+) {_FN_OFF}",
        K.WARN,
        WARN,
        frozenset({"refcount"}),
        is_warn=True,
    ),
    _h(
        "warning-old",
        rf"^WARNING: (?:CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) )?at (?P<file>[^\s:]+):(?P<line>\d+) {_FN_OFF}",
        K.WARN,
        WARN,
        frozenset({"refcount"}),
        is_warn=True,
    ),
    # --- other BUG:/UBSAN reports: non-fatal on their own
    _h("bug-other", r"^BUG: (?!KASAN)", K.OTHER, WARN),
    _h("ubsan", r"^UBSAN: ", K.OTHER, WARN),
    # --- continuation lines of the event just started
    _h("oops-line", r"^Oops(?: - [\w ]+)?: [0-9a-f]+ \[#\d+\]", K.OTHER, CONT, _ANY),
    # x86 BUG() traps with ud2; 6.10+ kernels prefix "Oops: ", and without
    # CONFIG_DEBUG_BUGVERBOSE no "kernel BUG at" line precedes it.
    _h("invalid-opcode", r"^(?:Oops: )?invalid opcode: [0-9a-f]+ \[#\d+\]", K.BUG, CONT, _ANY),
    _h("arm64-internal-error", r"^Internal error: ", K.OTHER, CONT, _ANY),
    _h(
        "kasan-null-range",
        rf"^KASAN: null-ptr-deref in range \[(?P<addr>{_HEX})-{_HEX}\]",
        K.GPF,
        CONT,
        frozenset({"gpf"}),
        overrides_address=True,
        standalone=False,
    ),
    _h(
        "kasan-access",
        rf"^(?:Read|Write) of size \d+ at addr (?P<addr>{_HEX}) by task (?P<comm>.+)/(?P<pid>\d+)",
        K.KASAN,
        CONT,
        frozenset({"kasan"}),
        standalone=False,
    ),
)


@dataclass(frozen=True)
class PanicRule:
    pattern: Pattern[str]
    kind: Optional[PanicKind]  # None: keep the kind of the event it ends
    follows: Optional[FrozenSet[PanicKind]]  # event kinds it ends; None: any


def _p(pattern: str, kind: Optional[PanicKind], follows: Optional[FrozenSet[PanicKind]]) -> PanicRule:
    return PanicRule(re.compile(pattern), kind, follows)


PANICS: Tuple[PanicRule, ...] = (
    _p(r"Fatal exception|Fatal trap|Oops - ", None, None),
    _p(r"panic_on_warn set|kernel\.panic_on_warn", K.WARN_PANIC, None),
    _p(r"^hung_task: blocked tasks", K.HUNG_TASK, frozenset({K.HUNG_TASK})),
    _p(r"^softlockup: hung tasks", K.SOFT_LOCKUP, frozenset({K.SOFT_LOCKUP})),
    _p(r"Hard LOCKUP|^hardlockup", K.HARD_LOCKUP, frozenset({K.HARD_LOCKUP})),
    _p(r"sysrq triggered crash", K.SYSRQ, frozenset({K.SYSRQ})),
    _p(r"Out of memory|System is deadlocked on memory|out of memory", K.OOM, frozenset({K.OOM})),
    _p(r"Machine check|MCE|machine check", K.MCE, frozenset({K.MCE})),
    _p(r"KASAN", K.KASAN, frozenset({K.KASAN})),
    _p(r"", K.OTHER, frozenset()),
)

_FIRST_CHARS = frozenset("BUkgwNWIsTrOimKR")
_PANIC_LINE = re.compile(r"^Kernel panic - not syncing:\s*(?P<msg>.*?)\s*$")


def match_headline(line: str) -> Optional[tuple[Headline, re.Match[str]]]:
    # Cheap prefilter for long logs: every headline starts with one of these.
    if not line or (line[0] not in _FIRST_CHARS and " invoked oom-killer:" not in line):
        return None
    for headline in HEADLINES:
        m = headline.pattern.match(line)
        if m:
            return headline, m
    return None


def match_panic(line: str) -> Optional[tuple[str, PanicRule]]:
    if not line.startswith("Kernel panic"):
        return None
    m = _PANIC_LINE.match(line)
    if not m:
        return None
    msg = m.group("msg")
    for rule in PANICS:
        if rule.pattern.search(msg):
            return msg, rule
    raise AssertionError("the last PANICS rule matches everything")
