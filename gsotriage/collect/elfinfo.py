"""Tiny ELF readers for debug-info files: GNU build-id and a quick sanity check.

Kept dependency-free so a wrong ``--vmlinux`` is rejected before drgn spends a
second indexing it.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple

__all__ = ["elf_build_id", "elf_section", "is_elf"]

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


def elf_section(path: str, name: str, limit: int = 64 << 20) -> Optional[bytes]:
    """The contents of section ``name`` of a 64-bit little-endian ELF file, or None (e.g. vmlinux's ``.BTF``)."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
                return None
            shoff = struct.unpack_from("<Q", ident, 0x28)[0]
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ident, 0x3A)
            if not shoff or shentsize < 64 or not 0 < shnum < 65535 or shstrndx >= shnum:
                return None
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            if len(table) < shentsize * shnum:
                return None

            def header(i: int) -> Tuple[int, int, int, int]:
                sh_name, sh_type = struct.unpack_from("<II", table, i * shentsize)
                sh_offset, sh_size = struct.unpack_from("<QQ", table, i * shentsize + 0x18)
                return sh_name, sh_type, sh_offset, sh_size

            _n, _t, str_off, str_size = header(shstrndx)
            f.seek(str_off)
            names = f.read(min(str_size, 1 << 20))
            want = name.encode()
            for i in range(shnum):
                sh_name, sh_type, sh_offset, sh_size = header(i)
                end = names.find(b"\0", sh_name)
                if names[sh_name:end] != want or sh_type == 8 or sh_size > limit:  # SHT_NOBITS
                    continue
                f.seek(sh_offset)
                data = f.read(sh_size)
                return data if len(data) == sh_size else None
    except (OSError, struct.error):
        return None
    return None
