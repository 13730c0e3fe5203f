"""Strip what transports add in front of a kernel log line.

Serial consoles, syslog, journalctl, dmesg, vmcore-dmesg, mail quoting and web
pages all decorate the same printk text. The prefixes are a data table; a line
is stripped repeatedly (a journal line can carry a syslog prefix *and* a
``[T123]`` caller id) until nothing more matches.
"""

from __future__ import annotations

import re
from typing import FrozenSet, Pattern, Tuple

__all__ = ["PREFIXES", "normalize_line"]

_SYSLOG_TIME = (
    r"(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?"  # "Nov 26 01:02:03" (+ short-precise)
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"  # ISO (short-iso, rsyslog)
)

# (tag, pattern). The tag is recorded so the source format can be named.
PREFIXES: Tuple[Tuple[str, Pattern[str]], ...] = (
    ("quoted", re.compile(r"^(?:>[ \t]?)+")),
    ("syslog", re.compile(_SYSLOG_TIME + r" \S+ kernel: ")),
    # journalctl -o short-monotonic: "[  123.456789] host kernel: "
    ("journal", re.compile(r"^\[\s*\d+\.\d+\] \S+ kernel: ")),
    ("printk-level", re.compile(r"^<[0-7]>")),
    ("dmesg-x", re.compile(r"^(?:kern|user|daemon|syslog)\s*:\s*(?:emerg|alert|crit|err|warn|notice|info|debug)\s*: ")),
    ("timestamps", re.compile(r"^\[\s*\d+\.\d+\]")),
    ("dmesg-T", re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d \d{4}\]")),
    ("caller-id", re.compile(r"^\[\s*[TC]\d+\]")),
    # Stamps a web page or mail client emptied ("[] BUG: KASAN: ...").
    ("empty-stamp", re.compile(r"^\[\]")),
    # MediaTek vendor kernels tag printk call sites: "[name:bug&]kernel BUG at ...".
    ("mtk-tag", re.compile(r"^\[name:\w+&\]")),
)

_MAX_ROUNDS = 8


def normalize_line(line: str) -> Tuple[str, FrozenSet[str]]:
    """Return the printk text of ``line`` and the tags of the prefixes removed."""
    text = line.strip()
    tags = set()
    for _ in range(_MAX_ROUNDS):
        for tag, pattern in PREFIXES:
            m = pattern.match(text)
            if m:
                text = text[m.end() :].strip()
                tags.add(tag)
                break
        else:
            break
    return text, frozenset(tags)
