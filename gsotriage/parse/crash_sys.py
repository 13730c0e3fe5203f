"""crash(8) ``sys`` output: ``     RELEASE: 6.1.0-56-cloud-amd64`` lines."""

from __future__ import annotations

import re
from typing import Dict, Optional

__all__ = ["SYS_KEYS", "match_sys_line", "sys_panic_string"]

SYS_KEYS = (
    "KERNEL",
    "DUMPFILE",
    "CPUS",
    "DATE",
    "UPTIME",
    "LOAD AVERAGE",
    "TASKS",
    "NODENAME",
    "RELEASE",
    "VERSION",
    "MACHINE",
    "MEMORY",
    "PANIC",
)
_SYS_LINE = re.compile(r"^(?P<key>" + "|".join(SYS_KEYS) + r"): (?P<value>.*)$")
_PANIC_STRING = re.compile(r'^"(?P<msg>.*)"')
_MACHINE = re.compile(r"^(?P<arch>\w+)")


def match_sys_line(line: str) -> Optional[tuple[str, str]]:
    if not line or not line[0].isupper():
        return None
    m = _SYS_LINE.match(line)
    if not m:
        return None
    key, value = m.group("key"), m.group("value").strip()
    if key == "PANIC" and value and not value.startswith('"'):
        return None  # crash quotes the panic string; "PANIC: double fault, ..." is the kernel's own line
    return key, value


def sys_panic_string(values: Dict[str, str]) -> Optional[str]:
    """``PANIC: "Oops: 0000 [#1] SMP" (check log for details)`` -> the quoted text."""
    raw = values.get("PANIC")
    if not raw:
        return None
    m = _PANIC_STRING.match(raw)
    text = m.group("msg") if m else raw
    return text.strip() or None


def sys_machine(values: Dict[str, str]) -> Optional[str]:
    m = _MACHINE.match(values.get("MACHINE", ""))
    if not m:
        return None
    return {"aarch64": "arm64"}.get(m.group("arch"), m.group("arch"))
