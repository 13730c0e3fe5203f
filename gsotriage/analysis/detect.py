"""Recognise what the user handed us, once.

:func:`detect` sniffs a path (never reading more than a few KiB of a dump) and
returns an :class:`InputKind` that says everything the loaders need: for a kdump
crash directory, which file is the dump, what format it is in, and which file is
the kernel log beside it. Nothing downstream detects again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from gsotriage.errors import InputError
from gsotriage.files import ELF_MAGIC, ET_CORE, FLAT_MAGIC, KDUMP_MAGIC, STREAM_ERRORS, compression_of, looks_like_text
from gsotriage.kernel.kdump import crash_dir_files

__all__ = ["DUMP_KINDS", "InputKind", "detect"]

# The kinds drgn opens as a kernel dump.
DUMP_KINDS = ("elf", "kdump", "kdump-flattened")


@dataclass(frozen=True)
class InputKind:
    kind: str  # text | elf | kdump | kdump-flattened | crash-dir | live | qmp | stdin
    path: str
    dump: Optional[str] = None  # for crash-dir: the dump file inside it
    dmesg: Optional[str] = None  # for crash-dir: the dmesg file beside it
    # For crash-dir: the dump's own kind (one of DUMP_KINDS), or why it cannot be used.
    dump_kind: Optional[str] = None
    dump_error: Optional[str] = None
    # For crash-dir: what was left out and why (a symlink leading outside the directory).
    notes: Tuple[str, ...] = ()


def _dir_entries(path: Path) -> Tuple[List[str], List[str]]:
    """(regular files of the directory, notes on the entries left out).

    A file symlinked to somewhere outside the directory is not followed: a crash
    directory is one unit, and a link out of it (to a 200 MB log elsewhere, to
    /dev/zero) is not what the dump wrote.
    """
    try:
        entries = list(os.scandir(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot list the directory: {exc.strerror}") from None
    base = os.path.realpath(path)
    names: List[str] = []
    notes: List[str] = []
    for e in entries:
        try:
            if not e.is_file():
                continue
            if e.is_symlink():
                target = os.path.realpath(e.path)
                if os.path.dirname(target) != base and not target.startswith(base + os.sep):
                    notes.append(
                        f"{e.path}: symlink to {target}, outside the crash directory: not followed "
                        "(analyse that file by its own path)"
                    )
                    continue
        except OSError:
            continue
        names.append(e.name)
    return names, notes


def _crash_dir(path: Path) -> InputKind:
    names, notes = _dir_entries(path)
    dumps, dmesgs = crash_dir_files(names)
    if not dumps and not dmesgs:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise InputError(
            f"{path} is a directory but not a kdump crash directory "
            "(expected vmcore + vmcore-dmesg.txt, or dump.<stamp> + dmesg.<stamp>); use 'gsotriage batch' for folders"
            + why
        )
    dump = str(path / dumps[-1]) if dumps else None
    dump_kind = dump_error = None
    if dump is not None:
        try:
            inner = _file_kind(dump)
        except InputError as exc:
            dump_error = str(exc)
        else:
            if inner in DUMP_KINDS:
                dump_kind = inner
            else:
                dump_error = f"{dump}: not a kernel dump ({inner})"
    return InputKind(
        "crash-dir",
        str(path),
        dump=dump,
        dmesg=str(path / dmesgs[-1]) if dmesgs else None,
        dump_kind=dump_kind,
        dump_error=dump_error,
        notes=tuple(notes),
    )


def _peek_decompressed(opener: Callable[[str], object], path: str) -> Optional[bytes]:
    """Up to 8 KiB of decompressed data; a truncated stream gives what precedes the cut."""
    data = b""
    try:
        with opener(path) as f:  # type: ignore[attr-defined]
            while len(data) < 8192:
                chunk = f.read1(8192 - len(data))
                if not chunk:
                    break
                data += chunk
    except STREAM_ERRORS:
        pass
    return data or None


def _file_kind(target: str) -> str:
    """The kind of a regular file: elf | kdump | kdump-flattened | text."""
    try:
        with open(target, "rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise InputError(f"{target}: cannot read: {exc.strerror}") from None
    if not head:
        raise InputError(f"{target}: empty file: nothing to analyse")
    if head.startswith(ELF_MAGIC):
        e_type = int.from_bytes(head[16:18], "little") if len(head) >= 18 else -1
        if e_type != ET_CORE:
            kinds = {
                1: "a relocatable object",
                2: "an executable (a vmlinux? pass it with --vmlinux)",
                3: "a shared object",
            }
            raise InputError(f"{target}: ELF file but not a core dump ({kinds.get(e_type, f'e_type {e_type}')})")
        return "elf"
    if head.startswith(KDUMP_MAGIC):
        return "kdump"
    if head.startswith(FLAT_MAGIC):
        return "kdump-flattened"
    compressed = compression_of(head)
    if compressed is not None:
        inner = _peek_decompressed(compressed[1], target)
        if inner is None:
            raise InputError(f"{target}: {compressed[0]}-compressed file with nothing readable inside")
        if looks_like_text(inner):
            return "text"
        raise InputError(
            f"{target}: {compressed[0]}-compressed, but not a text log inside; decompress dumps first (gsotriage "
            "reads ELF, kdump and flattened dumps as they are)"
        )
    if looks_like_text(head):
        return "text"
    raise InputError(
        f"{target}: not a crash dump (ELF core, kdump, flattened kdump) nor a text log "
        f"(starts with bytes {head[:8].hex(' ')})"
    )


def detect(target: str) -> InputKind:
    """Raises :class:`~gsotriage.errors.InputError` for what cannot be analysed."""
    if target == "-":
        return InputKind("stdin", "-")
    if target.startswith("qmp:"):
        return InputKind("qmp", target[4:])
    if os.path.realpath(target) == "/proc/kcore":
        return InputKind("live", "/proc/kcore")
    path = Path(target)
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
    return InputKind(_file_kind(target), str(path))
