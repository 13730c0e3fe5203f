"""One record read once: its parsed trace, its stack and its scope decision."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import FrozenSet, Optional, Sequence, Tuple

from gsotriage.cve.external import ExternalTrace
from gsotriage.cve.records import CveRecord
from gsotriage.cve.scope import Scope, classify
from gsotriage.kernel.frames import report_stack, site_index
from gsotriage.model import CrashReport
from gsotriage.parse import parse_text

__all__ = ["HUB_RECORDS", "RECORD_CASES", "Analysed", "analyse", "detector_report", "hubs", "negative_category"]

_NET = re.compile(
    r"^(net/|drivers/net/|include/net/|include/linux/(skbuff|netdevice|netdev_features|virtio_net|udp|ipv6|if_vlan)\.h)"
)
_TRACE_HINT = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+|Call Trace:|RIP: [0-9a-f]{4}:|\bpc : |kernel BUG at|WARNING: ")


# Reports of the kernel's leak and race detectors: their trace is where an object was
# allocated or two accesses raced, not where anything crashed.
_DETECTORS = (
    (re.compile(r"unreferenced object|memory leak", re.I), "a kmemleak report: its trace is where the object was made"),
    (re.compile(r"KCSAN|data-race"), "a KCSAN data-race report: two racing accesses, not a crash"),
    (re.compile(r"ref_tracker"), "a ref_tracker report: a reference leaked or freed twice, found at teardown"),
)


def detector_report(report: CrashReport) -> Optional[str]:
    """Why the report is a leak/race detector's rather than a crash (None: a crash)."""
    text = " ".join(x for x in (report.panic.message, report.panic.function) if x)
    return next((why for rx, why in _DETECTORS if rx.search(text)), None)


# Where the import writes each record's description (its own trace) as a case file.
RECORD_CASES = Path("cases") / "cve"


@dataclass(frozen=True)
class Analysed:
    record: CveRecord
    report: CrashReport
    stack: Tuple[str, ...]
    scope: Scope
    external: Optional[ExternalTrace] = None  # the trace came from elsewhere (the record quotes none)

    @property
    def has_trace(self) -> bool:
        """The parser found a crash site or frames in the record's text (or its external trace)."""
        return bool(self.stack)

    @property
    def trace_source(self) -> str:
        """``record``, ``external`` or "" (no trace)."""
        if not self.stack:
            return ""
        return "external" if self.external is not None else "record"

    @property
    def case_text(self) -> str:
        """The text the positive case file holds: the record's description, or the external trace."""
        return self.external.text if self.external is not None else self.record.description

    @property
    def case_input(self) -> str:
        """The case file a signature's test names (relative to the signature directory)."""
        if self.external is not None:
            return self.external.case_input
        return f"{RECORD_CASES.as_posix()}/{self.record.cve}.txt"

    @property
    def case_source(self) -> str:
        """Where the case's text was published."""
        return self.external.source if self.external is not None else self.record.url

    @property
    def trace_hint(self) -> bool:
        """The text looks like it quotes a trace (parsed or not)."""
        return _TRACE_HINT.search(self.record.message) is not None

    @property
    def networking(self) -> bool:
        return any(_NET.match(f) for f in self.record.program_files)

    @property
    def site(self) -> str:
        i = site_index(self.stack)
        return self.stack[i] if i is not None else ""


def analyse(record: CveRecord, external: Optional[ExternalTrace] = None) -> Analysed:
    """Parse the record's description exactly as a positive case file will hold it; when
    it quotes no trace the parser reads and ``external`` (the same bug's crash found
    elsewhere) is given, that trace is the record's crash instead."""
    report = parse_text(record.description, path=f"{record.cve}.txt")
    stack = tuple(report_stack(report))
    used: Optional[ExternalTrace] = None
    if not stack and external is not None:
        ext_report = parse_text(external.text, path=external.file)
        ext_stack = tuple(report_stack(ext_report))
        if ext_stack:
            report, stack, used = ext_report, ext_stack, external
    scope = classify(record.title, record.message, record.program_files, stack)
    return Analysed(record, report, stack, scope, used)


# A function that is the crash site of this many records' traces is a hub: crashes
# of many classes surface there (skb_segment, skb_checksum_help, the flow dissector).
HUB_RECORDS = 3


def hubs(analysed: Sequence[Analysed], threshold: int = HUB_RECORDS) -> FrozenSet[str]:
    """Functions that are the crash site of ``threshold`` or more records' traces."""
    seen: Counter[str] = Counter(a.site for a in analysed if a.site)
    return frozenset(name for name, n in seen.items() if n >= threshold)


_CATEGORIES = (
    ("netfilter", re.compile(r"^net/(netfilter|ipv[46]/netfilter|bridge/netfilter)/")),
    ("xfrm", re.compile(r"^net/(xfrm/|ipv[46]/(esp|xfrm|ah))")),
    ("bridge", re.compile(r"^net/bridge/")),
    ("nic-driver", re.compile(r"^drivers/net/")),
)


def negative_category(a: Analysed) -> str:
    """The family of a networking crash that is not a GSO/GRO fix (for the real-negative set)."""
    for name, rx in _CATEGORIES:
        if any(rx.match(f) for f in a.record.program_files):
            if name == "nic-driver" and any("start_xmit" in f or f == "dev_hard_start_xmit" for f in a.stack[:10]):
                return "driver-xmit"
            return name
    return "other-net"
