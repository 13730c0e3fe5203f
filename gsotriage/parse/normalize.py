"""Strip what transports add in front of a kernel log line.

Serial consoles, syslog, journalctl, dmesg, vmcore-dmesg, mail quoting, web
pages and vendor kernels all decorate the same printk text. The prefixes are
a data table; a line is stripped repeatedly (a journal line can carry a syslog
prefix *and* a ``[T123]`` caller id) until nothing more matches.

The caller id (``[ T123]``, ``[    C3]``, MediaTek's ``[C201134]``) is kept
apart: it says which task or CPU printed the line, so lines that other CPUs
print into the middle of a report can be told apart.

A console that lost a newline glues two printk lines together
(``...bytes[   76.471107] BUG: ...``, ``syzkaller login: [   59.8][ T6792] BUG:``);
:func:`split_merged` cuts such a line at the printk stamp inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Pattern, Tuple

__all__ = ["PREFIXES", "Normalized", "normalize", "normalize_line", "split_merged"]

_SYSLOG_TIME = (
    r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?"  # "Nov 26 01:02:03" (+ short-precise)
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"  # ISO (short-iso, rsyslog)
)

# (tag, pattern). The tag is recorded so the source format can be named.
PREFIXES: Tuple[Tuple[str, Pattern[str]], ...] = (
    ("quoted", re.compile(r"^(?:>[ \t]?)+")),
    # "host kernel: " or a remote syslog's "192.168.2.9 host kernel: ".
    ("syslog", re.compile(_SYSLOG_TIME + r" (?:\S+ ){1,2}kernel: ")),
    # OpenWrt logread: "Tue Feb  1 19:02:25 2022 kern.warn kernel: ".
    ("logread", re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4} \w+\.\w+ kernel: ")),
    # journalctl -o short-monotonic: "[  123.456789] host kernel: "
    ("journal", re.compile(r"^\[\s*\d+\.\d+\] \S+ kernel: ")),
    ("printk-level", re.compile(r"^<[0-7]>")),
    ("dmesg-x", re.compile(r"^(?:kern|user|daemon|syslog)\s*:\s*(?:emerg|alert|crit|err|warn|notice|info|debug)\s*: ")),
    ("timestamps", re.compile(r"^\[\s*(?P<stamp>\d+\.\d+)\]")),
    ("dmesg-T", re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d \d{4}\]")),
    ("caller-id", re.compile(r"^\[\s*(?P<caller>[TC]\d+)\]")),
    # Stamps a web page or mail client emptied ("[] BUG: KASAN: ...").
    ("empty-stamp", re.compile(r"^\[\]")),
    # printk's own notice that it dropped lines, glued to the next one.
    ("dropped", re.compile(r"^\*\* \d+ printk messages dropped \*\*")),
    # Serial-console tools that stamp lines themselves: "【07-10 04-14-59】[41169.489621] ...".
    ("tool-stamp", re.compile(r"^【[^】]{1,40}】")),
    # MediaTek vendor kernels print the task name and tag printk call sites:
    # "[C201134] rxq0_pus: [name:bug&]kernel BUG at ...".
    ("mtk-tag", re.compile(r"^(?:[^\s:\[\]]+: )?\[name:[\w-]+&\]")),
)

_MAX_ROUNDS = 8
# A printk stamp inside a line: the line holds the tail of one message and the next one.
_INNER_STAMP = re.compile(r"\[\s*\d+\.\d{6}\](?:\[\s*[TC]\d+\])?")
_MAX_SPLITS = 4


@dataclass(frozen=True)
class Normalized:
    text: str
    tags: FrozenSet[str]
    caller: Optional[str] = None  # "T123" / "C3": who printed the line
    stamp: Optional[str] = None  # the printk time stamp, "1052.080846"


def normalize(line: str) -> Normalized:
    """The printk text of ``line``, the tags of the prefixes removed and its caller id."""
    text = line.strip()
    tags = set()
    caller = stamp = None
    for _ in range(_MAX_ROUNDS):
        if not text or not (text[0].isalnum() or text[0] in "[<>*【"):
            break
        for tag, pattern in PREFIXES:
            m = pattern.match(text)
            if m:
                if tag == "caller-id":
                    caller = m.group("caller")
                elif tag == "timestamps":
                    stamp = m.group("stamp")
                text = text[m.end() :].strip()
                tags.add(tag)
                break
        else:
            break
    return Normalized(text, frozenset(tags), caller, stamp)


def normalize_line(line: str) -> Tuple[str, FrozenSet[str]]:
    """Return the printk text of ``line`` and the tags of the prefixes removed."""
    n = normalize(line)
    return n.text, n.tags


def split_merged(line: str) -> List[Normalized]:
    """Normalise ``line``; a printk stamp inside it starts a second line."""
    first = normalize(line)
    text = first.text
    if "]" not in text:
        return [first]
    out: List[Normalized] = []
    current = first
    for _ in range(_MAX_SPLITS):
        m = _INNER_STAMP.search(current.text, 1)
        if m is None:
            break
        head = current.text[: m.start()].rstrip()
        out.append(Normalized(head, current.tags, current.caller, current.stamp))
        current = normalize(current.text[m.start() :])
    out.append(current)
    return out
