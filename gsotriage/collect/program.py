"""Open a dump with drgn and find matching debug info (vmlinux + the modules needed).

Order: ``--vmlinux FILE`` (must match the dump, else an error naming both),
``--debuginfo DIR`` (by build-id, then by release/name), then the standard
places for the dump's release (unless ``GSOTRIAGE_NO_STANDARD_DEBUGINFO=1``),
then debuginfod only when enabled (``--debuginfod``, ``GSOTRIAGE_DEBUGINFOD=1`` or
``debuginfod = true`` in the config file: :mod:`.settings`). The dump's identity comes
from its own VMCOREINFO (``OSRELEASE``, ``BUILD-ID``), read before any debug info.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .elfinfo import elf_build_id, is_elf

__all__ = [
    "DebugInfoMissing",
    "DumpOpenError",
    "Session",
    "debuginfo_packages",
    "lean_drgn_helpers",
    "load_kernel_debug_info",
    "load_module_debug_info",
    "open_dump",
    "parse_vmcoreinfo",
]

_MAX_WALK_FILES = 20000


class DumpOpenError(Exception):
    """drgn could not open the dump (one sentence)."""


class DebugInfoMissing(Exception):
    """No vmlinux matching the dump was found (message lists where we looked)."""


@dataclass
class Session:
    """One opened program and what we learnt while opening it."""

    prog: Any  # drgn.Program
    path: str  # the file drgn opened (a temp file for flattened dumps)
    vmcoreinfo: Dict[str, str]
    notes: List[str] = field(default_factory=list)
    vmlinux: Optional[str] = None
    module_files: Dict[str, str] = field(default_factory=dict)  # name -> .ko searched candidates

    @property
    def release(self) -> Optional[str]:
        return self.vmcoreinfo.get("OSRELEASE")

    @property
    def build_id(self) -> Optional[str]:
        bid = self.vmcoreinfo.get("BUILD-ID")
        return bid.lower() if bid else None


def parse_vmcoreinfo(text: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def read_vmcoreinfo(prog: Any) -> Dict[str, str]:
    try:
        raw = prog["VMCOREINFO"].string_()
    except Exception:
        return {}
    return parse_vmcoreinfo(raw.decode("utf-8", "replace"))


def elf_truncation(path: str) -> Optional[str]:
    """For an ELF core: why it is truncated (segments beyond the end of the file), else None."""
    import struct

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            eh = f.read(64)
            if len(eh) < 64 or eh[:4] != b"\x7fELF" or eh[4] != 2:
                return None
            phoff = struct.unpack_from("<Q", eh, 0x20)[0]
            phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except (OSError, struct.error):
        return None
    need = 0
    for i in range(phnum):
        off = i * phentsize
        if off + 56 > len(table):
            return f"program headers cut short ({size} bytes)"
        p_offset, p_filesz = struct.unpack_from("<QQ", table, off + 8)[0], struct.unpack_from("<Q", table, off + 32)[0]
        need = max(need, p_offset + p_filesz)
    if need > size:
        return f"truncated: {size} bytes, its segments need {need}"
    return None


def lean_drgn_helpers() -> None:
    """Enter the ``drgn.helpers.linux`` package without running its ``__init__``.

    That ``__init__`` imports every helper module (40-odd) to re-export their names
    (``from drgn.helpers.linux import *`` in drgn's REPL): ~0.1 s a run, half of it
    for modules gsotriage never uses. gsotriage imports its helpers from their own
    modules (``drgn.helpers.linux.printk`` ...), which need only the package's path.
    Nothing changes when the package was already imported."""
    import importlib.util
    import sys

    name = "drgn.helpers.linux"
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return
    sys.modules[name] = importlib.util.module_from_spec(spec)


def open_dump(path: str) -> Session:
    """``Program().set_core_dump(path)`` with errors turned into :class:`DumpOpenError`."""
    import logging

    import drgn

    lean_drgn_helpers()

    # drgn logs warnings (e.g. unreadable module lists) on stderr; we turn failures into notes.
    logging.getLogger("drgn").setLevel(logging.ERROR)
    # drgn's plugins (its CLI commands) are not used here; scanning the installed packages' entry
    # points for them costs ~0.1 s a run. A user's explicit DRGN_DISABLE_PLUGINS wins.
    os.environ.setdefault("DRGN_DISABLE_PLUGINS", "*")
    trunc = elf_truncation(path)
    if trunc:
        raise DumpOpenError(trunc)

    prog = drgn.Program()
    try:
        prog.set_core_dump(path)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DumpOpenError(msg) from None
    if not (prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL):
        raise DumpOpenError("a userspace core dump, not a Linux kernel dump (no VMCOREINFO)")
    info = read_vmcoreinfo(prog)
    if not info:
        raise DumpOpenError("no VMCOREINFO in the dump")
    return Session(prog=prog, path=path, vmcoreinfo=info)


def debuginfo_packages(release: Optional[str]) -> str:
    rel = release or "<release>"
    return (
        f"Debian: linux-image-{rel}-dbg; Ubuntu: linux-image-unsigned-{rel}-dbgsym; RHEL/Fedora: kernel-debuginfo-{rel}"
    )


def standard_vmlinux_paths(release: str, build_id: Optional[str]) -> List[str]:
    paths = [
        f"/usr/lib/debug/boot/vmlinux-{release}",
        f"/usr/lib/debug/lib/modules/{release}/vmlinux",
        f"/lib/modules/{release}/build/vmlinux",
        f"/boot/vmlinux-{release}",
    ]
    if build_id:
        paths.insert(0, f"/usr/lib/debug/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
    return paths


def _walk(directory: str) -> Iterator[str]:
    seen = 0
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            seen += 1
            if seen > _MAX_WALK_FILES:
                return
            yield os.path.join(root, name)


def _vmlinux_candidates(dirs: Sequence[str], release: Optional[str], build_id: Optional[str]) -> Iterator[str]:
    for d in dirs:
        if os.path.isfile(d):
            yield d
            continue
        if build_id:
            p = os.path.join(d, ".build-id", build_id[:2], build_id[2:] + ".debug")
            if os.path.isfile(p):
                yield p
        for p in _walk(d):
            base = os.path.basename(p)
            if base == "vmlinux" or base.startswith("vmlinux-") or (release and base == f"vmlinux-{release}"):
                yield p


def _standard_enabled() -> bool:
    from .settings import load_settings

    return load_settings().standard_paths


def _debuginfod_enabled() -> bool:
    from .settings import load_settings

    return load_settings().debuginfod


def _check_vmlinux(session: Session, vmlinux: str) -> Optional[str]:
    """None when ``vmlinux`` matches the dump, else why not."""
    if not is_elf(vmlinux):
        return "not an ELF file"
    bid = elf_build_id(vmlinux)
    want = session.build_id
    if want and bid and bid != want:
        return f"build-id {bid} but the dump's kernel (release {session.release}) has build-id {want}"
    if want and not bid:
        return "has no build-id to compare with the dump's"
    return None


def load_kernel_debug_info(session: Session, vmlinux: Optional[str], debuginfo: Sequence[str]) -> str:
    """Load vmlinux debug info; returns the file used.

    Raises ValueError (wrong explicit vmlinux) or :class:`DebugInfoMissing`.
    """
    prog = session.prog
    prog.set_enabled_debug_info_finders([])  # we choose the files; no silent fallbacks
    tried: List[str] = []
    chosen: Optional[str] = None
    if vmlinux:
        why = _check_vmlinux(session, vmlinux)
        if why:
            raise ValueError(f"--vmlinux {vmlinux} does not match the dump: {why}")
        chosen = vmlinux
    else:
        places: List[str] = list(_vmlinux_candidates(debuginfo, session.release, session.build_id))
        if _standard_enabled() and session.release:
            places += [p for p in standard_vmlinux_paths(session.release, session.build_id) if os.path.isfile(p)]
        for p in places:
            if p in tried:
                continue
            tried.append(p)
            if _check_vmlinux(session, p) is None:
                chosen = p
                break
    if chosen is None and _debuginfod_enabled():
        try:
            prog.set_enabled_debug_info_finders(["debuginfod"])
            prog.load_debug_info(main=True)
            session.notes.append("kernel debug info fetched with debuginfod")
            return "debuginfod"
        except Exception as exc:
            tried.append(f"debuginfod ({exc})")
    if chosen is None:
        where = ", ".join(tried) if tried else "no candidate files"
        searched = list(debuginfo)
        if _standard_enabled() and session.release:
            searched.append("standard places")
        raise DebugInfoMissing(
            f"no vmlinux with debug info matching the dump (release {session.release}, build-id "
            f"{session.build_id}) in {', '.join(searched) or 'nowhere (no --vmlinux/--debuginfo)'}; "
            f"rejected: {where}"
        )
    try:
        prog.load_debug_info([chosen])
    except Exception as exc:
        raise DebugInfoMissing(f"{chosen}: drgn could not load it: {exc}") from None
    main = prog.main_module()
    if main is not None and main.wants_debug_file():  # True while no debug file was accepted
        raise ValueError(f"{chosen} was not accepted by drgn as the dump's vmlinux")
    _check_symbol_address(session, chosen)
    session.vmlinux = chosen
    return chosen


def _check_symbol_address(session: Session, vmlinux: str) -> None:
    """Without a build-id, a release match is all we have: cross-check init_uts_ns's address."""
    want = session.vmcoreinfo.get("SYMBOL(init_uts_ns)")
    if not want:
        return
    try:
        got = session.prog.symbol("init_uts_ns").address
    except Exception:
        return
    if got != int(want, 16):
        raise ValueError(
            f"--vmlinux {vmlinux} does not match the dump: init_uts_ns at {got:#x}, the dump says {int(want, 16):#x}"
        )


def _module_candidates(dirs: Sequence[str], name: str, release: Optional[str]) -> Iterator[str]:
    names = {f"{name}.ko", f"{name}.ko.debug", f"{name.replace('_', '-')}.ko", f"{name.replace('_', '-')}.ko.debug"}
    for d in dirs:
        if os.path.isfile(d):
            if os.path.basename(d) in names:
                yield d
            continue
        for p in _walk(d):
            if os.path.basename(p) in names:
                yield p
    if _standard_enabled() and release:
        for d in (f"/usr/lib/debug/lib/modules/{release}", f"/lib/modules/{release}"):
            if os.path.isdir(d):
                for p in _walk(d):
                    if os.path.basename(p) in names:
                        yield p


def load_module_debug_info(session: Session, modules: Sequence[Any], debuginfo: Sequence[str]) -> List[str]:
    """Try debug files for the given drgn modules (those on the stack); returns names still missing.

    :param modules: drgn.Module objects (RelocatableModule) wanting debug info.
    """
    missing = []
    for mod in modules:
        if not mod.wants_debug_file():
            continue
        want = mod.build_id.hex() if mod.build_id else None
        for cand in _module_candidates(debuginfo, mod.name, session.release):
            bid = elf_build_id(cand)
            if want and bid and bid != want:
                continue
            try:
                mod.try_file(cand, force=not want)
            except Exception:  # noqa: S112
                continue
            if not mod.wants_debug_file():
                session.module_files[mod.name] = cand
                break
        if mod.wants_debug_file():
            missing.append(mod.name)
    return missing
