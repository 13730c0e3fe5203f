"""Which kernel build crashed, read cheaply: VMCOREINFO from a dump's headers, or the kernel log.

A fleet routes a dump to the workers that already hold its build's debug info, so the
submitter must name the build without opening the dump with drgn. VMCOREINFO (the kernel's
own text note, ``OSRELEASE=...`` / ``BUILD-ID=...``) sits near the start of every dump format:

- ELF vmcore: a note named ``VMCOREINFO`` in the ``PT_NOTE`` segment(s);
- kdump-compressed (makedumpfile): the sub-header, one block after the main header, holds
  ``offset_vmcoreinfo``/``size_vmcoreinfo`` (header_version 3 and later; makedumpfile's
  ``struct kdump_sub_header``);
- makedumpfile flattened (``-F``): the same kdump file cut into (offset, size, data) records;
  the header records come first, so the first few are reassembled in memory.

``BUILD-ID=`` is in VMCOREINFO since Linux commit 0935288c6e00 ("kdump: append kernel build-id
string to VMCOREINFO") (in v5.9); older kernels give only ``OSRELEASE``, and a log gives the
release from its ``Linux version`` banner or its oops ``CPU:`` line. At most a few MiB are read.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import BinaryIO, Dict, Optional

from gsotriage.files import ELF_MAGIC, FLAT_MAGIC, KDUMP_MAGIC, open_maybe_compressed
from gsotriage.parse.kernel_info import match_banner, match_cpu_line
from gsotriage.parse.normalize import normalize_line

__all__ = ["BuildInfo", "build_of_dump", "parse_vmcoreinfo", "release_of_log"]

_NOTE_CAP = 4 << 20  # bytes of notes read from an ELF vmcore
_VMCOREINFO_CAP = 1 << 16
_FLAT_HEADER = 4096
_FLAT_RECORDS = 64  # the kdump headers are within the first records makedumpfile writes
_FLAT_WINDOW = 1 << 22  # logical bytes of a flattened dump reassembled, at most
_LOG_CAP = 4 << 20
_PT_NOTE = 4
_KEY = re.compile(rb"^(OSRELEASE|BUILD-ID)=(.+)$", re.M)
_HEX = re.compile(r"^[0-9a-f]{2,128}$")
_BANNER = "Linux version "


@dataclass(frozen=True)
class BuildInfo:
    build_id: Optional[str]  # the GNU build-id of vmlinux, lower-case hex
    release: Optional[str]  # uname -r
    source: str  # where it was read: "vmcoreinfo" | "kernel log" | "none"


def parse_vmcoreinfo(data: bytes) -> BuildInfo:
    """BUILD-ID and OSRELEASE from VMCOREINFO text."""
    found: Dict[bytes, str] = {}
    for m in _KEY.finditer(data):
        found.setdefault(m.group(1), m.group(2).strip().decode("ascii", "replace"))
    build = found.get(b"BUILD-ID", "").lower()
    return BuildInfo(
        build if _HEX.match(build) else None,
        found.get(b"OSRELEASE") or None,
        "vmcoreinfo" if found else "none",
    )


def _elf_notes(f: BinaryIO) -> Optional[bytes]:
    ident = f.read(64)
    if len(ident) < 64 or ident[:4] != ELF_MAGIC:
        return None
    is64, endian = ident[4] == 2, "<" if ident[5] == 1 else ">"
    if is64:
        phoff = struct.unpack_from(endian + "Q", ident, 0x20)[0]
        phentsize, phnum = struct.unpack_from(endian + "HH", ident, 0x36)
    else:
        phoff = struct.unpack_from(endian + "I", ident, 0x1C)[0]
        phentsize, phnum = struct.unpack_from(endian + "HH", ident, 0x2A)
    f.seek(phoff)
    table = f.read(phentsize * min(phnum, 65535))
    notes = b""
    for i in range(len(table) // phentsize if phentsize else 0):
        off = i * phentsize
        if struct.unpack_from(endian + "I", table, off)[0] != _PT_NOTE:
            continue
        if is64:
            p_offset, _, _, p_filesz = struct.unpack_from(endian + "QQQQ", table, off + 8)
        else:
            p_offset, _, _, p_filesz = struct.unpack_from(endian + "IIII", table, off + 4)
        f.seek(p_offset)
        notes += f.read(min(p_filesz, _NOTE_CAP - len(notes)))
        if len(notes) >= _NOTE_CAP:
            break
    return _vmcoreinfo_note(notes, endian)


def _vmcoreinfo_note(notes: bytes, endian: str) -> Optional[bytes]:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, _ = struct.unpack_from(endian + "III", notes, pos)
        pos += 12
        name = notes[pos : pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        if name == b"VMCOREINFO":
            return notes[pos : pos + min(descsz, _VMCOREINFO_CAP)]
        pos += (descsz + 3) & ~3
    return None


def _kdump_vmcoreinfo(read_at: _Reader) -> Optional[bytes]:
    head = read_at(0, 440)
    if len(head) < 440 or not head.startswith(KDUMP_MAGIC):
        return None
    # struct disk_dump_header: signature[8], header_version, new_utsname (6 x 65), struct timeval
    # (8-aligned, at 408), status (424), block_size (428). The sub-header is the next block.
    version, block_size = struct.unpack_from("<i", head, 8)[0], struct.unpack_from("<i", head, 428)[0]
    if version < 3 or not 0 < block_size <= (1 << 20):
        return None
    # struct kdump_sub_header (64-bit): phys_base, dump_level, split, start_pfn, end_pfn,
    # offset_vmcoreinfo (32), size_vmcoreinfo (40).
    sub = read_at(block_size, 48)
    if len(sub) < 48:
        return None
    offset, size = struct.unpack_from("<qQ", sub, 32)
    if offset <= 0 or not 0 < size <= _VMCOREINFO_CAP:
        return None
    return read_at(offset, size)


class _Reader:
    """read_at(offset, size) over a plain file, or over a flattened dump's first records."""

    def __init__(self, f: BinaryIO, flattened: bool) -> None:
        self.f = f
        self.image: Optional[bytearray] = None
        if flattened:
            self.image = bytearray()
            f.seek(_FLAT_HEADER)
            for _ in range(_FLAT_RECORDS):
                rec = f.read(16)
                if len(rec) < 16:
                    break
                offset, size = struct.unpack(">qq", rec)
                if offset < 0 or size < 0:
                    break  # the end marker
                if offset + size > _FLAT_WINDOW:
                    f.seek(size, 1)
                    continue
                data = f.read(size)
                if len(self.image) < offset + len(data):
                    self.image.extend(b"\0" * (offset + len(data) - len(self.image)))
                self.image[offset : offset + len(data)] = data

    def __call__(self, offset: int, size: int) -> bytes:
        if self.image is not None:
            return bytes(self.image[offset : offset + size])
        self.f.seek(offset)
        return self.f.read(size)


def build_of_dump(path: str) -> BuildInfo:
    """The build of a vmcore (ELF, kdump-compressed or flattened); ``source`` "none" when its
    VMCOREINFO cannot be found."""
    try:
        with open(path, "rb") as f:
            magic = f.read(16)
            f.seek(0)
            if magic.startswith(ELF_MAGIC):
                info = _elf_notes(f)
            elif magic.startswith(KDUMP_MAGIC):
                info = _kdump_vmcoreinfo(_Reader(f, flattened=False))
            elif magic.startswith(FLAT_MAGIC):
                info = _kdump_vmcoreinfo(_Reader(f, flattened=True))
            else:
                info = None
    except (OSError, struct.error):
        info = None
    return parse_vmcoreinfo(info) if info else BuildInfo(None, None, "none")


def release_of_log(path: str) -> Optional[str]:
    """The kernel release a log names: its ``Linux version`` banner, else an oops ``CPU:`` line."""
    cpu_release: Optional[str] = None
    try:
        with open_maybe_compressed(path) as f:
            data = f.read(_LOG_CAP)
    except (OSError, EOFError, ValueError):
        return None
    for raw in data.decode("utf-8", "replace").splitlines():
        at = raw.find(_BANNER)  # a serial console may put terminal escapes before it on the line
        banner = match_banner(raw[at:].strip()) if at >= 0 else None
        if banner:
            return banner[0]
        text, _ = normalize_line(raw)
        if cpu_release is None:
            cpu = match_cpu_line(text)
            if cpu and cpu.release:
                cpu_release = cpu.release
    return cpu_release
