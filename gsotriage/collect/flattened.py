"""makedumpfile's *flattened* format, reassembled into a normal kdump file.

A flattened file (``makedumpfile -F``, QEMU's ``dump-guest-memory -z``) is a
4096-byte header (``"makedumpfile"``, type, version) followed by records of
``(offset: int64 BE, size: int64 BE, data)`` ending with offset ``-1``.
libkdumpfile refuses it as is, so we write the records at their offsets into a
temporary sparse file. QEMU leaves ``utsname.sysname`` and ``release`` of the
kdump header empty; libkdumpfile then cannot tell the OS, so the copy gets
them repaired from the dump's own VMCOREINFO (``OSRELEASE=``). The user's file
is never modified.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from typing import BinaryIO, Optional, Tuple

__all__ = ["FlattenedError", "reassemble"]

_SIGNATURE = b"makedumpfile"
_HEADER_SIZE = 4096
_REC = struct.Struct(">qq")
_CHUNK = 1 << 20
# struct disk_dump_header: signature[8], header_version (int), then struct new_utsname
# (6 fields of 65 bytes: sysname, nodename, release, version, machine, domainname).
_UTS_OFFSET = 12
_UTS_LEN = 65
_OSRELEASE = re.compile(rb"OSRELEASE=([^\n\0]+)")


class FlattenedError(Exception):
    """The flattened file is malformed or truncated (the message says where)."""


def _copy(src: BinaryIO, dst: BinaryIO, size: int, where: int) -> None:
    left = size
    while left > 0:
        data = src.read(min(left, _CHUNK))
        if not data:
            raise FlattenedError(f"truncated: record at file offset {where} ends early ({size - left}/{size} bytes)")
        dst.write(data)
        left -= len(data)


def _repair_header(out: BinaryIO, size: int) -> Optional[str]:
    """Fill empty utsname fields (libkdumpfile's ``uts_looks_sane`` wants sysname, nodename,
    release, version and machine) from VMCOREINFO or placeholders; returns what was repaired."""
    out.seek(0)
    head = out.read(_UTS_OFFSET + 6 * _UTS_LEN)
    if not head.startswith(b"KDUMP   ") or len(head) < _UTS_OFFSET + 6 * _UTS_LEN:
        return None

    def field(i: int) -> bytes:
        return head[_UTS_OFFSET + i * _UTS_LEN : _UTS_OFFSET + (i + 1) * _UTS_LEN].split(b"\0", 1)[0]

    wanted = {0: b"Linux", 1: b"(none)", 3: b"(unknown: not in the dump header)", 4: b"x86_64"}
    if not field(2):
        # VMCOREINFO lives in the kdump sub-header (a few blocks in); a bounded scan suffices.
        out.seek(0)
        m = _OSRELEASE.search(out.read(min(size, 1 << 20)))
        if m:
            wanted[2] = m.group(1)[: _UTS_LEN - 1]
    names = ("sysname", "nodename", "release", "version", "machine")
    fixed = []
    for i, value in sorted(wanted.items()):
        if field(i):
            continue
        out.seek(_UTS_OFFSET + i * _UTS_LEN)
        out.write(value.ljust(_UTS_LEN, b"\0"))
        fixed.append(names[i])
    return ", ".join(fixed) or None


def reassemble(path: str, tmpdir: Optional[str] = None) -> Tuple[str, Optional[str]]:
    """Write the flattened dump ``path`` as a normal file; returns (temp path, repair note).

    The caller deletes the temporary file. Raises :class:`FlattenedError`.
    """
    fd, out_path = tempfile.mkstemp(prefix="gsotriage-", suffix=".kdump", dir=tmpdir)
    ok = False
    try:
        with open(path, "rb") as src, os.fdopen(fd, "w+b") as out:
            head = src.read(_HEADER_SIZE)
            if len(head) < _HEADER_SIZE or not head.startswith(_SIGNATURE):
                raise FlattenedError("not a makedumpfile flattened file (bad header)")
            end = 0
            while True:
                where = src.tell()
                raw = src.read(_REC.size)
                if len(raw) < _REC.size:
                    raise FlattenedError(f"truncated: no end marker (stopped at file offset {where})")
                offset, size = _REC.unpack(raw)
                if offset == -1:
                    break
                if offset < 0 or size < 0:
                    raise FlattenedError(f"corrupt record at file offset {where} (offset {offset}, size {size})")
                out.seek(offset)
                _copy(src, out, size, where)
                end = max(end, offset + size)
            if end == 0:
                raise FlattenedError("no data records")
            repaired = _repair_header(out, end)
        ok = True
        note = f"reassembled flattened kdump into a temporary file (header {repaired} repaired from VMCOREINFO)"
        return out_path, note if repaired else "reassembled flattened kdump into a temporary file"
    finally:
        if not ok:
            try:
                os.unlink(out_path)
            except OSError:
                pass
