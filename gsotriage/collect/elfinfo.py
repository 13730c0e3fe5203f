"""Tiny ELF readers for debug-info files: GNU build-id and a quick sanity check.

Kept dependency-free so a wrong ``--vmlinux`` is rejected before drgn spends a
second indexing it.
"""

from __future__ import annotations

import struct
from typing import Optional

__all__ = ["elf_build_id", "is_elf"]

_NT_GNU_BUILD_ID = 3
_SHT_NOTE = 7


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _notes_build_id(data: bytes, endian: str) -> Optional[str]:
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(endian + "III", data, pos)
        pos += 12
        name = data[pos : pos + namesz]
        pos += (namesz + 3) & ~3
        desc = data[pos : pos + descsz]
        pos += (descsz + 3) & ~3
        if ntype == _NT_GNU_BUILD_ID and name.rstrip(b"\0") == b"GNU":
            return desc.hex()
    return None


def elf_build_id(path: str) -> Optional[str]:
    """The GNU build-id of an ELF file (hex), or None when it has none or is not a 64-bit ELF."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2:
                return None
            endian = "<" if ident[5] == 1 else ">"
            shoff = struct.unpack_from(endian + "Q", ident, 0x28)[0]
            shentsize, shnum = struct.unpack_from(endian + "HH", ident, 0x3A)
            if not shoff or shentsize < 64 or shnum == 0 or shnum > 65535:
                return None
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            for i in range(shnum):
                off = i * shentsize
                if off + 64 > len(table):
                    break
                sh_type = struct.unpack_from(endian + "I", table, off + 4)[0]
                if sh_type != _SHT_NOTE:
                    continue
                sh_offset, sh_size = struct.unpack_from(endian + "QQ", table, off + 0x18)
                if sh_size > (1 << 20):
                    continue
                f.seek(sh_offset)
                found = _notes_build_id(f.read(sh_size), endian)
                if found:
                    return found
    except (OSError, struct.error):
        return None
    return None
