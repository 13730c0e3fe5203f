"""Which debug info an analysis uses, and the per-build profile it leaves behind.

Order:

1. a per-build profile with the kernel's BTF exists for the dump's build-id and no
   ``--vmlinux`` was given: no DWARF is loaded at all (kallsyms + the profile's BTF +
   ORC), even when ``--debuginfo`` dirs or the standard places hold the vmlinux
   (``GSOTRIAGE_PROFILES=0`` or ``[profiles] enabled = false`` turns profiles off; an
   explicit ``--vmlinux`` always loads that file);
2. ``--no-debuginfo`` (``GSOTRIAGE_NO_DEBUGINFO=1``, ``[debuginfo] no_debuginfo``):
   kallsyms + the dump's BTF + ORC;
3. a matching vmlinux (``--vmlinux``, ``--debuginfo``, the standard places, then
   debuginfod when enabled): DWARF, as before;
4. none found: the dump's own kallsyms + BTF + ORC;
5. the dump lacks those too (kernel before 6.0 without the VMCOREINFO kallsyms
   backport, no ``CONFIG_DEBUG_INFO_BTF``): the kernel log only (DEGRADED), as before.

After a full analysis the profile is written or completed (DWARF runs add the exact
types of the global variables they read).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from .profile import Profile, find_profile, write_profile
from .program import DebugInfoMissing, Session, load_kernel_debug_info
from .selfinfo import PROFILE_TYPES, NoSelfInfo, SelfInfo, attach_self_info
from .settings import Settings, load_settings

__all__ = ["DebugChoice", "choose_debug_info"]


@dataclass
class DebugChoice:
    """The outcome: DWARF (``self_info`` None), self-described, or degraded (``degraded_why``)."""

    settings: Settings
    profile: Optional[Profile] = None
    self_info: Optional[SelfInfo] = None
    degraded_why: Optional[str] = None
    notes: List[str] = field(default_factory=list)

    def keep_profile(self, session: Session) -> List[str]:
        """Write or complete the build's profile; returns notes."""
        if not self.settings.profiles:
            return []
        prof = self.profile
        dwarf = self.self_info is None
        if prof is not None and prof.btf_data is not None and (not dwarf or prof.meta.get("globals")):
            return self._complete(session, prof)
        try:
            meta, data, offsets = _profile_content(session, self.self_info)
        except Exception as exc:  # a profile is an optimisation: never fail the report for it
            return [f"per-build profile not written: {type(exc).__name__}: {exc}"]
        path, why = write_profile(self.settings.profile_dirs, session.build_id, meta, data, offsets, prof)
        if path is None:
            return [f"per-build profile not written: {why}"]
        return [f"per-build profile written to {path}: later analyses of this build load no DWARF"]

    def _complete(self, session: Session, prof: Profile) -> List[str]:
        """Complete the profile from a run that used its BTF: the BTF lookups it learnt (the
        next run answers them from the memo) and the kallsyms it read from the dump."""
        info = self.self_info
        if info is None or info.btf is None or info.types != PROFILE_TYPES:
            return []
        old = prof.meta.get("btf_memo") or {}
        new = info.btf.memo()
        meta: Dict[str, Any] = {}
        if not all(set(new[k]) <= set(old.get(k) or {}) for k in new):
            meta["btf_memo"] = {k: {**(old.get(k) or {}), **new[k]} for k in new}
        offsets = info.btf.index.offsets if prof.btf_offsets is None else None
        kallsyms = None
        stext = session.vmcoreinfo.get("SYMBOL(_stext)")
        if prof.kallsyms is None and info.kallsyms_index is not None and stext is not None:
            try:
                from .ksymcache import pack_symbols

                kallsyms = pack_symbols(info.kallsyms_index(session.prog, None, None, False), int(stext, 16))
            except Exception as exc:  # an optimisation: never fail the report for it
                return [f"per-build profile kallsyms not written: {type(exc).__name__}: {exc}"]
        if not meta and kallsyms is None and offsets is None:
            return []
        path, why = write_profile(
            self.settings.profile_dirs, session.build_id, meta, None, offsets, prof, kallsyms=kallsyms
        )
        return [] if path is not None else [f"per-build profile not completed: {why}"]


def choose_debug_info(session: Session, vmlinux: Optional[str], dirs: Sequence[str]) -> DebugChoice:
    """Attach debug info to ``session.prog`` following the order above.

    Raises ValueError for an explicit ``--vmlinux`` that does not match the dump.
    """
    settings = load_settings()
    choice = DebugChoice(settings=settings, notes=list(settings.notes))
    profile = None
    if settings.profiles:
        profile, _why = find_profile(settings.profile_dirs, session.build_id)
    choice.profile = profile
    missing: Optional[str] = None
    if vmlinux is None and profile is not None and profile.btf_data is not None:
        choice.notes.append(f"per-build profile {profile.path} used: no DWARF loaded")
    elif settings.no_debuginfo:
        missing = "debug info not loaded (--no-debuginfo)"
    else:
        try:
            load_kernel_debug_info(session, vmlinux, dirs)
            return choice
        except DebugInfoMissing as exc:
            missing = str(exc)
    if not settings.from_dump:
        choice.degraded_why = f"{missing} (analysis from the dump's own kallsyms/BTF/ORC turned off)"
        return choice
    try:
        choice.self_info = attach_self_info(
            session,
            btf_data=profile.btf_data if profile else None,
            btf_offsets=profile.btf_offsets if profile else None,
            recorded_globals=profile.globals if profile else None,
            btf_memo=profile.meta.get("btf_memo") if profile else None,
            kallsyms=profile.kallsyms if profile else None,
        )
    except NoSelfInfo as exc:
        choice.degraded_why = f"{missing or 'no DWARF'}; the dump cannot describe itself either: {exc}"
        return choice
    if missing:
        choice.notes.append(f"no DWARF ({missing}): analysed with the dump's own symbols, types and unwind tables")
    return choice


def _profile_content(session: Session, info: Optional[SelfInfo]) -> Any:
    """(meta, BTF blob, BTF index) for the profile."""
    from .btf import BtfIndex

    prog = session.prog
    meta: Dict[str, Any] = {"release": session.release}
    data: Optional[bytes]
    offsets: Optional[array]
    if info is not None and info.btf is not None and info.btf_data is not None:
        meta["written_by"] = "btf"
        meta["btf_memo"] = info.btf.memo()
        data = bytes(info.btf_data)
        offsets = info.btf.index.offsets
    else:
        meta["written_by"] = "dwarf"
        meta["globals"] = _dwarf_globals(prog)
        data = _btf_from_vmlinux(session) or _btf_from_memory(prog)
        if data:
            BtfIndex.check_header(data)  # a malformed blob is not kept; its index is left to the first BTF run
        offsets = None
    meta["orc_entries"] = _orc_entries(prog)
    return meta, data, offsets


def _dwarf_globals(prog: Any) -> Dict[str, str]:
    """Exact types (from DWARF) of the globals the debuginfo-free mode needs."""
    from .globaltypes import GLOBAL_TYPES

    out = {}
    for name in GLOBAL_TYPES:
        try:
            out[name] = str(prog.variable(name).type_.type_name())
        except Exception:  # noqa: S112 - absent in this build
            continue
    return out


def _btf_from_vmlinux(session: Session) -> Optional[bytes]:
    from .elfinfo import elf_section

    return elf_section(session.vmlinux, ".BTF") if session.vmlinux else None


def _btf_from_memory(prog: Any) -> Optional[bytes]:
    try:
        start = prog.symbol("__start_BTF").address
        stop = prog.symbol("__stop_BTF").address
        return bytes(prog.read(start, stop - start)) if 0 < stop - start < (64 << 20) else None
    except Exception:
        return None


def _orc_entries(prog: Any) -> Optional[int]:
    try:
        return (prog.symbol("__stop_orc_unwind_ip").address - prog.symbol("__start_orc_unwind_ip").address) // 4
    except Exception:
        return None
