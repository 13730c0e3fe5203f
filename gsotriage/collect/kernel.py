"""Kernel identity and panic facts read from typed kernel memory."""

from __future__ import annotations

from typing import Any, Optional, Tuple

from gsotriage.kernel.release import distro_version

__all__ = ["kernel_identity", "panic_cpu", "taint_string"]

# kernel/panic.c taint_flags[] order (bit number = index); the first is 'P' or 'G'.
_TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"


def taint_string(mask: int) -> Tuple[str, Tuple[str, ...]]:
    """The ``Tainted:`` field as 6.1 prints it (trailing blanks dropped) and the letters set (``G`` left out)."""
    chars = []
    letters = []
    for bit, letter in enumerate(_TAINT_LETTERS):
        on = bool(mask >> bit & 1)
        if bit == 0:
            chars.append("P" if on else "G")
        else:
            chars.append(letter if on else " ")
        if on:
            letters.append(letter)
    for bit in range(len(_TAINT_LETTERS), mask.bit_length()):
        if mask >> bit & 1:
            letters.append(f"bit{bit}")
    raw = "".join(chars).rstrip()
    return ("Not tainted" if mask == 0 else raw), tuple(letters)


def kernel_identity(prog: Any) -> Tuple[Optional[str], Optional[str], Optional[str], Optional[str]]:
    """(release, version, machine, distro_version) from ``init_uts_ns.name``."""
    name = prog["init_uts_ns"].name
    release = name.release.string_().decode("utf-8", "replace")
    version = name.version.string_().decode("utf-8", "replace")
    machine = name.machine.string_().decode("utf-8", "replace")
    return release, version, machine, distro_version(release, version)


def panic_cpu(prog: Any) -> Optional[int]:
    """``panic_cpu`` (atomic_t; -1 = PANIC_CPU_INVALID when nobody panicked)."""
    try:
        value = int(prog["panic_cpu"].counter.value_())
    except Exception:
        return None
    return None if value < 0 else value
