"""Register dump lines, console and crash(8) ``bt`` alike.

Console: ``RAX: 0000000000000544 RBX: ...``, ``RSP: 0018:ffffd3c140043bc0 EFLAGS: 00000246``,
``FS:  0000000000000000(0000) GS:...``; crash: ``RIP: ffffffffaa037f7e  RSP: ...  RFLAGS: 00010246``,
``ORIG_RAX: ffffffffffffffdc  CS: 0010  SS: 0018``; arm64: ``x29: ffff80000a1b3a10 x28: 0000000000000000``,
``sp : ffff80000a1b3a10``, ``pstate: 60400005 (nZCv daif +PAN -UAO)``.
"""

from __future__ import annotations

import re
from typing import Dict, Optional

__all__ = ["REGISTER_NAMES", "match_registers"]

REGISTER_NAMES = frozenset(
    "RAX RBX RCX RDX RSI RDI RBP RSP RIP R8 R9 R10 R11 R12 R13 R14 R15 R08 R09 "
    "EFLAGS RFLAGS ORIG_RAX FS GS KNLGS CS DS ES SS CR0 CR2 CR3 CR4 "
    "DR0 DR1 DR2 DR3 DR6 DR7 PKRU SP PSTATE LR".split()
    + [f"X{i}" for i in range(31)]
)

# name: [segment:]value[(selector)]; values have at least 4 hex digits so that
# "RIP: 0010:skb_segment+0x..." (a symbol, not a value) is not read as one.
_PAIR = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_]{0,7})\s*:\s*(?:[0-9a-f]{4}:)?([0-9a-f]{4,16})(?:\(\w+\))?(?=\s|$)")
_FIRST = re.compile(r"^([A-Za-z][A-Za-z0-9_]{0,7})\s*:")


def match_registers(line: str) -> Optional[Dict[str, int]]:
    """All register pairs of a register-dump line; None when the line is not one."""
    first = _FIRST.match(line)
    if not first or _canon(first.group(1)) not in REGISTER_NAMES:
        return None
    out: Dict[str, int] = {}
    for name, value in _PAIR.findall(line):
        canon = _canon(name)
        if canon in REGISTER_NAMES:
            out[canon] = int(value, 16)
    return out or None


def _canon(name: str) -> str:
    name = name.upper()
    # Console prints R08/R09, crash prints R8/R9.
    if name in ("R08", "R09"):
        return "R" + name[2]
    return name
