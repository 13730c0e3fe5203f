"""Recognise what the user handed us and turn it into a CrashReport.

Text (console logs, dmesg files, crash(8) transcripts) goes to the parsers;
dumps, the live kernel and QMP sockets go to the drgn collector. We never
analyse something other than what was asked: a dump that cannot be opened is
an error or a clearly degraded report, never the running kernel.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional

from gsotriage.model import CrashReport

__all__ = ["InputError", "InputKind", "detect", "load_report"]

Progress = Callable[[str], None]


class InputError(Exception):
    """Unreadable or unsupported input (exit code 3). The message is one clear sentence."""


@dataclass(frozen=True)
class InputKind:
    kind: str  # text | elf | kdump | kdump-flattened | crash-dir | live | qmp | stdin
    path: str
    dump: Optional[str] = None  # for crash-dir: the dump file inside it
    dmesg: Optional[str] = None  # for crash-dir: the dmesg file beside it


# Rotated and exported logs often arrive compressed; the stdlib decompresses them as a stream.
_COMPRESSED = (
    (b"\x1f\x8b", lambda p: gzip.open(p, "rb")),
    (b"\xfd7zXZ\x00", lambda p: lzma.open(p, "rb")),
    (b"BZh", lambda p: bz2.open(p, "rb")),
)

_KDUMP_MAGIC = b"KDUMP   "
_FLAT_MAGIC = b"makedumpfile"
_ELF_MAGIC = b"\x7fELF"
ET_CORE = 4

# kdump crash directories: RHEL (vmcore + vmcore-dmesg.txt), Debian/Ubuntu
# kdump-tools (dump.<stamp> + dmesg.<stamp>).
_DUMP_NAMES = ("vmcore", "vmcore.flat", "dump.")
_DMESG_NAMES = ("vmcore-dmesg.txt", "dmesg.")


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return True
    if b"\0" in head[:4096]:
        return False
    printable = sum(1 for b in head if b in (9, 10, 13) or 32 <= b < 127 or b >= 0x80)
    return printable / len(head) > 0.95


def _crash_dir(path: Path) -> InputKind:
    entries = sorted(p for p in path.iterdir() if p.is_file())
    dumps = [p for p in entries if p.name == "vmcore" or p.name.startswith("dump.") or p.name == "vmcore.flat"]
    dmesgs = [p for p in entries if p.name == "vmcore-dmesg.txt" or p.name.startswith("dmesg.")]
    if not dumps and not dmesgs:
        raise InputError(
            f"{path} is a directory but not a kdump crash directory "
            "(expected vmcore + vmcore-dmesg.txt, or dump.<stamp> + dmesg.<stamp>); use 'gsotriage batch' for folders"
        )
    return InputKind(
        "crash-dir",
        str(path),
        dump=str(dumps[-1]) if dumps else None,
        dmesg=str(dmesgs[-1]) if dmesgs else None,
    )


def _peek_decompressed(opener: Callable[[Path], Any], path: Path) -> Optional[bytes]:
    """Up to 8 KiB of decompressed data; a truncated stream gives what precedes the cut."""
    data = b""
    try:
        with opener(path) as f:
            while len(data) < 8192:
                chunk = f.read1(8192 - len(data))
                if not chunk:
                    break
                data += chunk
    except (OSError, EOFError, ValueError, lzma.LZMAError):
        pass
    return data or None


def detect(target: str) -> InputKind:
    if target == "-":
        return InputKind("stdin", "-")
    if target.startswith("qmp:"):
        return InputKind("qmp", target[4:])
    path = Path(target)
    if os.path.realpath(target) == "/proc/kcore":
        return InputKind("live", "/proc/kcore")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{target}: no such file or directory") from None
    except OSError as exc:
        raise InputError(f"{target}: cannot access: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        return _crash_dir(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{target}: not a regular file")
    if st.st_size == 0:
        raise InputError(f"{target}: empty file: nothing to analyse")
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise InputError(f"{target}: cannot read: {exc.strerror}") from None
    if head.startswith(_ELF_MAGIC):
        e_type = int.from_bytes(head[16:18], "little") if len(head) >= 18 else -1
        if e_type != ET_CORE:
            kinds = {
                1: "a relocatable object",
                2: "an executable (a vmlinux? pass it with --vmlinux)",
                3: "a shared object",
            }
            raise InputError(f"{target}: ELF file but not a core dump ({kinds.get(e_type, f'e_type {e_type}')})")
        return InputKind("elf", str(path))
    if head.startswith(_KDUMP_MAGIC):
        return InputKind("kdump", str(path))
    if head.startswith(_FLAT_MAGIC):
        return InputKind("kdump-flattened", str(path))
    if _looks_like_text(head):
        return InputKind("text", str(path))
    for magic, opener in _COMPRESSED:
        if head.startswith(magic):
            inner = _peek_decompressed(opener, path)
            if inner is None:
                raise InputError(f"{target}: compressed file with nothing readable inside")
            if _looks_like_text(inner):
                return InputKind("text", str(path))
            raise InputError(
                f"{target}: compressed, but not a text log inside; decompress dumps first (gsotriage reads "
                "ELF, kdump and flattened dumps as they are)"
            )
    raise InputError(
        f"{target}: not a crash dump (ELF core, kdump, flattened kdump) nor a text log "
        f"(starts with bytes {head[:8].hex(' ')})"
    )


def _read_stdin() -> str:
    from gsotriage.parse import decode_bytes

    data = sys.stdin.buffer.read()
    if not data:
        raise InputError("standard input was empty: nothing to analyse")
    if not _looks_like_text(data[:8192]):
        raise InputError("standard input is not text; pass dumps as a file path")
    return decode_bytes(data)


def load_report(
    target: str,
    *,
    vmlinux: Optional[str] = None,
    debuginfo: Optional[List[str]] = None,
    progress: Optional[Progress] = None,
) -> CrashReport:
    kind = detect(target)
    if kind.kind == "stdin":
        from gsotriage.parse import parse_text

        return parse_text(_read_stdin())
    if kind.kind == "text":
        from gsotriage.parse import parse_file

        try:
            return parse_file(kind.path)
        except OSError as exc:
            raise InputError(f"{kind.path}: cannot read: {exc.strerror}") from None
    from gsotriage.collect import collect

    return collect(kind, vmlinux=vmlinux, debuginfo=debuginfo or [], progress=progress)
