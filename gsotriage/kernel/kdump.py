"""What kdump tools leave behind after a panic: the files of a crash directory.

RHEL/Fedora kdump (``kexec-tools``) writes ``/var/crash/<host>-<date>/`` with
``vmcore`` (makedumpfile output; ``vmcore.flat`` when dumped over ssh) and
``vmcore-dmesg.txt`` (``vmcore-dmesg-incomplete.txt`` when the extraction was
cut). Debian/Ubuntu ``kdump-tools`` write ``/var/crash/<YYYYMMDDHHMM>/`` with
``dump.<stamp>`` and ``dmesg.<stamp>``. One table, used by input detection,
batch discovery and the parsers (to name the source format).
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Pattern, Tuple

__all__ = ["DMESG_FILES", "DUMP_FILES", "crash_dir_files", "dmesg_format", "is_crash_dir"]

# Dump files, most preferred first.
DUMP_FILES: Tuple[Pattern[str], ...] = (
    re.compile(r"^vmcore$"),
    re.compile(r"^vmcore\.flat$"),
    re.compile(r"^dump\.\d+$"),
)

# Kernel-log files saved beside a dump -> the source format the parsers report.
DMESG_FILES: Tuple[Tuple[Pattern[str], str], ...] = (
    (re.compile(r"^vmcore-dmesg(?:-incomplete)?\.txt$"), "vmcore-dmesg"),
    (re.compile(r"^dmesg\.\d+$"), "kdump-tools-dmesg"),
)


def dmesg_format(name: str) -> Optional[str]:
    """The format name of a kdump kernel-log file name (``vmcore-dmesg``, ``kdump-tools-dmesg``), else None."""
    for pattern, fmt in DMESG_FILES:
        if pattern.match(name):
            return fmt
    return None


def _is_dump(name: str) -> bool:
    return any(p.match(name) for p in DUMP_FILES)


def crash_dir_files(names: Iterable[str]) -> Tuple[List[str], List[str]]:
    """Split a directory's file names into (dumps, kernel logs) as kdump tools name
    them; each list sorted, so a directory with several stamps has the newest last."""
    listed = sorted(names)
    return [n for n in listed if _is_dump(n)], [n for n in listed if dmesg_format(n) is not None]


def is_crash_dir(names: Iterable[str]) -> bool:
    """A kdump crash directory holds a dump, or the kernel log saved beside one."""
    dumps, dmesgs = crash_dir_files(names)
    return bool(dumps or dmesgs)
