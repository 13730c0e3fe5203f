"""Kernel identity lines: the ``CPU: ... Comm: ...`` line, the ``Linux version``
banner, ``Hardware name:``, and the distro package version derived from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

__all__ = [
    "NOT_TAINTED",
    "CpuLine",
    "match_banner",
    "match_cpu_line",
    "match_hardware",
]

NOT_TAINTED = "Not tainted"
_CPU_LINE = re.compile(
    r"^CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.+?)"
    r"(?: Kdump: loaded)?"
    r"(?: Tainted: (?P<taint>[A-Z ]*?)| Not tainted)"
    r"[\s-]*(?P<release>\d+\.\d+\S*)(?:\s+(?P<version>#.*))?$"
)
# Short form without taint/release (some arches, truncated copies).
_CPU_SHORT = re.compile(r"^CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>\S+)")
# 6.x prints the long taint form on its own line.
_TAINT_LINE = re.compile(r"^Tainted: (?P<taint>(?:\[[A-Z]\]=\w+(?:, )?)+)$")
_BANNER = re.compile(r"^Linux version (?P<release>\S+) \(.*?\)\s+(?P<version>#\d+.*)$")
_BANNER_LOOSE = re.compile(r"^Linux version (?P<release>\d+\.\d+\S*)(?:\s.*?(?P<version>#\d+.*))?$")
_HARDWARE = re.compile(r"^Hardware name: (?P<hw>.+)$")
_UBUNTU_SIGNATURE = re.compile(r"\s*\((Ubuntu [^()]*)\)\s*$")
# A release stated in a bug report's prose ("Kernel version: 4.18.0-553.el8").
_PROSE_RELEASE = re.compile(r"(?i)\bkernel(?: version| release)?\s*[:=]\s*(\d+\.\d+\.\d+[-\w.+~]*)")


@dataclass
class CpuLine:
    cpu: int
    pid: int
    comm: str
    taint: Optional[str] = None
    release: Optional[str] = None
    version: Optional[str] = None


def _squash(text: str) -> str:
    return " ".join(text.split())


def match_cpu_line(line: str) -> Optional[CpuLine]:
    m = _CPU_LINE.match(line)
    if m:
        taint = m.group("taint")
        if taint is None:
            taint = NOT_TAINTED
        version = m.group("version")
        return CpuLine(
            int(m.group("cpu")),
            int(m.group("pid")),
            m.group("comm"),
            taint.rstrip() if taint is not None else None,
            m.group("release"),
            _squash(version) if version else None,
        )
    m = _CPU_SHORT.match(line)
    if m:
        return CpuLine(int(m.group("cpu")), int(m.group("pid")), m.group("comm"))
    return None


def match_taint_line(line: str) -> Optional[str]:
    m = _TAINT_LINE.match(line)
    return m.group("taint") if m else None


def match_banner(line: str) -> Optional[tuple[str, Optional[str], Optional[str]]]:
    """``Linux version ...`` -> (release, version as ``uname -v``, Ubuntu signature)."""
    m = _BANNER.match(line) or _BANNER_LOOSE.match(line)
    if not m:
        return None
    version = m.group("version")
    signature = None
    if version:
        sm = _UBUNTU_SIGNATURE.search(version)
        if sm:
            signature = sm.group(1)
            version = version[: sm.start()]
        version = _squash(version)
    return m.group("release"), version or None, signature


def match_hardware(line: str) -> Optional[str]:
    m = _HARDWARE.match(line)
    return m.group("hw").strip() if m else None


def match_prose_release(line: str) -> Optional[str]:
    if "ernel" not in line:
        return None
    m = _PROSE_RELEASE.search(line)
    return m.group(1).rstrip(".") if m else None
