"""Kernel taint letters (Documentation/admin-guide/tainted-kernels.rst).

``Kernel.taint_flags`` holds the letters that are *set*, in the kernel's
printing order. ``G`` is left out: it is the placeholder printed when ``P``
(proprietary module) is not set and so carries no information; ``P`` is kept.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional, Tuple

__all__ = ["TAINT_FLAGS", "decode_taint", "taint_names"]

# letter -> short name as printed by 6.x kernels ("Tainted: [O]=OOT_MODULE").
TAINT_FLAGS: Mapping[str, str] = {
    "P": "PROPRIETARY_MODULE",
    "G": "GPL_ONLY",  # placeholder: not a taint
    "F": "FORCED_MODULE",
    "S": "CPU_OUT_OF_SPEC",
    "R": "FORCED_RMMOD",
    "M": "MACHINE_CHECK",
    "B": "BAD_PAGE",
    "U": "USER",
    "D": "DIE",
    "A": "OVERRIDDEN_ACPI_TABLE",
    "W": "WARN",
    "C": "CRAP",
    "I": "FIRMWARE_WORKAROUND",
    "O": "OOT_MODULE",
    "E": "UNSIGNED_MODULE",
    "L": "SOFTLOCKUP",
    "K": "LIVEPATCH",
    "X": "AUX",
    "T": "RANDSTRUCT",
    "N": "TEST",
}

_NOT_A_TAINT = frozenset("G")
_BRACKETED = re.compile(r"\[([A-Z])\]=")


def decode_taint(raw: Optional[str]) -> Optional[Tuple[str, ...]]:
    """Letters set in a raw taint field: ``"G           OE"`` -> ``("O", "E")``.

    Also reads the 6.x long form ``"[W]=WARN, [O]=OOT_MODULE"``. Unknown letters
    are kept (a newer kernel may add flags); ``None`` when there is no field.
    """
    if raw is None:
        return None
    if raw == "Not tainted":
        return ()
    letters = _BRACKETED.findall(raw) or [c for c in raw if c.isalpha() and c.isupper()]
    out = []
    for letter in letters:
        if letter not in _NOT_A_TAINT and letter not in out:
            out.append(letter)
    return tuple(out)


def taint_names(flags: Tuple[str, ...]) -> Tuple[str, ...]:
    return tuple(TAINT_FLAGS.get(f, f"UNKNOWN_{f}") for f in flags)
