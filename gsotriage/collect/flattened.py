"""makedumpfile's *flattened* format, reassembled into a normal kdump file.

A flattened file (``makedumpfile -F``, QEMU's ``dump-guest-memory -z``) is a
4096-byte header (``"makedumpfile"``, type, version) followed by records of
``(offset: int64 BE, size: int64 BE, data)`` ending with offset ``-1``.
libkdumpfile refuses it as is, so we write the records at their offsets into a
temporary sparse file. QEMU leaves ``utsname.sysname`` and ``release`` of the
kdump header empty; libkdumpfile then cannot tell the OS, so the copy gets
them repaired from the dump's own VMCOREINFO (``OSRELEASE=``). The user's file
is never modified.

The copy can be as large as the dump, so it must never outlive the analysis,
however that ends (SIGTERM, SIGHUP, Ctrl-C, SIGKILL from ``batch --timeout``,
the OOM killer): it is unlinked as soon as it is created and read through
``/proc/self/fd``, so the kernel frees it when the last descriptor closes, at
exit by any signal. Its name (``gsotriage-<pid>-*.kdump``) names the owner,
and files of owners that are gone (a crash between create and unlink, a system
without /proc) are swept at the start of every reassembly. Before writing,
the free space of the temporary directory (``GSOTRIAGE_TMPDIR``, else ``TMPDIR``) is checked against the
bytes the records hold.
"""

from __future__ import annotations

import glob
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, List, Optional, Tuple

__all__ = ["FlattenedError", "NoSpaceError", "Reassembled", "reassemble", "sweep_stale"]

_SIGNATURE = b"makedumpfile"
_HEADER_SIZE = 4096
_REC = struct.Struct(">qq")
_CHUNK = 1 << 20
# struct disk_dump_header: signature[8], header_version (int), then struct new_utsname
# (6 fields of 65 bytes: sysname, nodename, release, version, machine, domainname).
_UTS_OFFSET = 12
_UTS_LEN = 65
_OSRELEASE = re.compile(rb"OSRELEASE=([^\n\0]+)")
_PREFIX = "gsotriage-"
_STALE = re.compile(r"gsotriage-(\d+)-[^/]*\.kdump$")
# A kdump file's offsets stay below its own size; past 1 TiB a record is corrupt
# (and lseek may refuse it: ext4 files end at 16 TiB).
_MAX_END = 1 << 40
# Room left beside the copy: a full /tmp breaks more than this analysis.
_SPARE = 64 << 20


class FlattenedError(Exception):
    """The flattened file is malformed or truncated (the message says where)."""


class NoSpaceError(FlattenedError):
    """The temporary directory has too little free space for the reassembled dump."""


@dataclass
class Reassembled:
    """The reassembled dump: ``path`` opens it while the object is open; ``close()`` frees it."""

    path: str
    note: str
    fd: int
    name: Optional[str] = None  # set only where the file could not be unlinked at once

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.name is not None:
            _unlink(self.name)
            self.name = None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_stale(tmpdir: Optional[str] = None) -> List[str]:
    """Remove reassembled dumps whose owner process is gone; returns what was removed."""
    removed = []
    for path in glob.glob(os.path.join(tmpdir or tempfile.gettempdir(), f"{_PREFIX}*.kdump")):
        m = _STALE.search(os.path.basename(path))
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            _unlink(path)
            removed.append(path)
    return removed


def _scan(src: BinaryIO) -> Tuple[int, int]:
    """Walk the records without copying: (bytes of data, end of the reassembled file)."""
    head = src.read(_HEADER_SIZE)
    if len(head) < _HEADER_SIZE or not head.startswith(_SIGNATURE):
        raise FlattenedError("not a makedumpfile flattened file (bad header)")
    total = end = 0
    file_size = os.fstat(src.fileno()).st_size
    while True:
        where = src.tell()
        raw = src.read(_REC.size)
        if len(raw) < _REC.size:
            raise FlattenedError(f"truncated: no end marker (stopped at file offset {where})")
        offset, size = _REC.unpack(raw)
        if offset == -1:
            break
        if offset < 0 or size < 0 or offset + size > _MAX_END:
            raise FlattenedError(f"corrupt record at file offset {where} (offset {offset}, size {size})")
        if size > file_size - src.tell():
            raise FlattenedError(f"truncated: record at file offset {where} ends early (size {size})")
        src.seek(size, os.SEEK_CUR)
        total += size
        end = max(end, offset + size)
    if end == 0:
        raise FlattenedError("no data records")
    return total, end


def _check_space(directory: str, needed: int) -> None:
    try:
        st = os.statvfs(directory)
    except OSError:
        return  # cannot tell: the write itself will fail cleanly
    free = st.f_bavail * st.f_frsize
    if free < needed + _SPARE:
        raise NoSpaceError(
            f"reassembly needs {needed >> 20} MiB in {directory} (plus {_SPARE >> 20} MiB spare), which has "
            f"{free >> 20} MiB free; point GSOTRIAGE_TMPDIR (or TMPDIR) at a larger filesystem"
        )


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


def _temp_file(tmpdir: Optional[str]) -> Tuple[int, str, Optional[str]]:
    """An anonymous temporary file: (fd, path to open it by, name still to unlink or None)."""
    fd, name = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".kdump", dir=tmpdir)
    by_fd = f"/proc/self/fd/{fd}"
    if os.path.exists(by_fd):
        _unlink(name)
        return fd, by_fd, None
    return fd, name, name


def reassemble(path: str, tmpdir: Optional[str] = None) -> Reassembled:
    """Write the flattened dump ``path`` as a normal (sparse, anonymous) file.

    The caller closes the result. Raises :class:`FlattenedError` (and
    :class:`NoSpaceError`) or OSError.
    """
    directory = tmpdir or tempfile.gettempdir()
    sweep_stale(directory)
    with open(path, "rb") as src:
        needed, _end = _scan(src)
        _check_space(directory, needed)
        fd, by_path, name = _temp_file(directory)
        result = Reassembled(by_path, "", fd, name)
        try:
            out = os.fdopen(os.dup(fd), "w+b")
            with out:
                src.seek(_HEADER_SIZE)
                end = 0
                while True:
                    where = src.tell()
                    offset, size = _REC.unpack(src.read(_REC.size))
                    if offset == -1:
                        break
                    try:
                        out.seek(offset)
                    except OSError as exc:  # EINVAL/EFBIG: past the temporary file system's largest file
                        raise FlattenedError(
                            f"record at file offset {where} places data at {offset:#x}, which the file system "
                            f"of the temporary directory cannot hold ({exc.strerror})"
                        ) from None
                    _copy(src, out, size, where)
                    end = max(end, offset + size)
                repaired = _repair_header(out, end)
        except BaseException:
            result.close()
            raise
    result.note = (
        f"reassembled flattened kdump into a temporary file (header {repaired} repaired from VMCOREINFO)"
        if repaired
        else "reassembled flattened kdump into a temporary file"
    )
    return result
