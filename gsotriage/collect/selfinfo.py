"""Debuginfo-free analysis: what a dump says about itself, handed to drgn.

* symbols: the kernel's kallsyms tables, located through VMCOREINFO
  (``SYMBOL(kallsyms_names)`` ...: Linux kernel commits 5fd8fea935a1 ("vmcoreinfo:
  include kallsyms symbols") and f09bddbd8661 ("vmcoreinfo: add kallsyms_num_syms
  symbol") (in v6.0); older kernels without a backport fall back to the kernel
  log), read by drgn's
  ``load_vmlinux_kallsyms``; module symbols from each module's own symtab
  (``load_module_kallsyms``);
* types: the kernel's BTF (``__start_BTF``..``__stop_BTF``) through a drgn type
  finder (:mod:`.btf`), and global variables through an object finder that pairs a
  kallsyms address with a BTF ``VAR`` type, a profile's recorded type or
  :mod:`.globaltypes`; enum constants from the BTF enums;
* unwinding: drgn 0.3 unwinds with the ORC tables built into the kernel image
  (``__start_orc_unwind_ip`` ...) when no debug file is loaded, provided the main
  module's address range is known (``_stext``..``_end``). Modules' ORC comes
  from ``struct module`` (``arch.num_orcs``), which the BTF types describe.

Without DWARF there are no inline frames, no locals by name and no source lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .btf import BtfError, BtfIndex, BtfTypes
from .globaltypes import DERIVED, global_type_spelling
from .program import Session

__all__ = ["DWARF_LOSSES", "PROFILE_TYPES", "NoSelfInfo", "SelfInfo", "attach_self_info"]

PROFILE_TYPES = "BTF (per-build profile)"
DWARF_LOSSES = "inline frames, locals by name and source lines are UNKNOWN (they need DWARF)"


class NoSelfInfo(Exception):
    """The dump lacks what the debuginfo-free mode needs (kallsyms or BTF): one sentence."""


@dataclass
class SelfInfo:
    """What was attached, for the report's notes and the per-build profile."""

    symbols: str = "kallsyms"
    types: str = "BTF"
    unwinder: str = "ORC"
    btf: Optional[BtfTypes] = None
    btf_data: Optional[bytes] = None
    kallsyms_index: Any = None  # drgn's SymbolIndex of the dump's kallsyms, when it was read
    notes: List[str] = field(default_factory=list)
    globals_missing: List[str] = field(default_factory=list)

    def sources_note(self) -> str:
        return (
            f"sources: symbols: {self.symbols}; types: {self.types}; unwinder: {self.unwinder}; "
            f"no DWARF: {DWARF_LOSSES}"
        )


def _type_finder(btf: BtfTypes) -> Any:
    from drgn import TypeKind

    wanted = {
        TypeKind.STRUCT: "struct",
        TypeKind.UNION: "union",
        TypeKind.ENUM: "enum",
        TypeKind.TYPEDEF: "typedef",
        TypeKind.INT: "base",
        TypeKind.BOOL: "base",
        TypeKind.FLOAT: "base",
    }

    def find(_prog: Any, kinds: Any, name: str, _filename: Optional[str]) -> Any:
        for kind in kinds:
            what = wanted.get(kind)
            if what is not None:
                found = btf.named(what, name)
                if found is not None:
                    return found
        return None

    return find


def _object_finder(btf: BtfTypes, recorded: Dict[str, str], info: SelfInfo) -> Any:
    from drgn import FindObjectFlags, Object

    def constant(name: str) -> Optional[int]:
        hit = btf.index.enumerator(name)
        return None if hit is None else hit[1]

    def find(prog: Any, name: str, flags: Any, _filename: Optional[str]) -> Any:
        if flags & FindObjectFlags.CONSTANT:
            hit = btf.index.enumerator(name)
            if hit is not None:
                return Object(prog, btf.type(hit[0]), hit[1])
        if flags & FindObjectFlags.VARIABLE:
            var = btf.find_id("var", name)
            type_ = None
            if var is not None:
                type_ = btf.type(var)
            else:
                spelling = recorded.get(name) or global_type_spelling(name, constant)
                if spelling is not None:
                    type_ = prog.type(spelling)
            if type_ is not None:
                try:
                    address = prog.symbol(name).address
                except LookupError:
                    return None
                return Object(prog, type_, address=address)
            if name in DERIVED:
                spelling, holder = DERIVED[name]
                try:
                    value = prog.read_word(prog.symbol(holder).address)
                except LookupError:
                    return None
                return Object(prog, spelling, value)
            if name not in info.globals_missing and _has_symbol(prog, name):
                info.globals_missing.append(name)
        return None

    return find


def _has_symbol(prog: Any, name: str) -> bool:
    try:
        prog.symbol(name)
        return True
    except LookupError:
        return False


def _symbol(prog: Any, name: str) -> int:
    try:
        return int(prog.symbol(name).address)
    except LookupError:
        raise NoSelfInfo(f"kallsyms has no {name}") from None


def attach_self_info(
    session: Session,
    btf_data: Optional[bytes] = None,
    btf_offsets: Any = None,
    recorded_globals: Optional[Dict[str, str]] = None,
    btf_memo: Optional[Dict[str, Any]] = None,
    kallsyms: Optional[bytes] = None,
) -> SelfInfo:
    """Give ``session.prog`` symbols, types and unwinding from the dump itself.

    :param btf_data: the BTF blob from a per-build profile (else read from the dump).
    :param btf_offsets: the profile's record index for it (else scanned).
    :param btf_memo: the profile's memo of earlier lookups in that BTF (:meth:`BtfTypes.memo`).
    :param kallsyms: the profile's symbol table (:mod:`.ksymcache`; else read from the dump).
    Raises :class:`NoSelfInfo` when kallsyms or BTF is missing.
    """
    from drgn.helpers.linux.kallsyms import load_vmlinux_kallsyms

    prog = session.prog
    info = SelfInfo()
    prog.set_enabled_debug_info_finders([])
    cached = _cached_kallsyms(session, kallsyms, info) if kallsyms is not None else None
    if cached is not None:
        prog.register_symbol_finder("gsotriage_kallsyms", cached, enable_index=0)
        info.symbols = "kallsyms (per-build profile)"
    else:
        try:
            index = load_vmlinux_kallsyms(prog)
        except Exception as exc:
            why = str(exc).splitlines()[0] if str(exc) else exc
            raise NoSelfInfo(f"no usable kallsyms in the dump ({why})") from None
        prog.register_symbol_finder("gsotriage_kallsyms", index, enable_index=0)
        info.kallsyms_index = index

    if btf_data is None:
        start, stop = _symbol(prog, "__start_BTF"), _symbol(prog, "__stop_BTF")
        if not 0 < stop - start < (64 << 20):
            raise NoSelfInfo(f"implausible BTF bounds {start:#x}..{stop:#x}")
        try:
            btf_data = prog.read(start, stop - start)
        except Exception as exc:
            raise NoSelfInfo(f"the kernel's BTF is not readable in the dump ({exc})") from None
    else:
        info.types = PROFILE_TYPES
    try:
        btf = BtfTypes(prog, BtfIndex(btf_data, btf_offsets), btf_memo if info.types == PROFILE_TYPES else None)
    except BtfError as exc:
        raise NoSelfInfo(f"the kernel's BTF is unusable: {exc}") from None
    info.btf, info.btf_data = btf, btf_data
    prog.register_type_finder("gsotriage_btf", _type_finder(btf), enable_index=0)
    finder = _object_finder(btf, recorded_globals or {}, info)
    prog.register_object_finder("gsotriage_btf_globals", finder, enable_index=-1)

    main = prog.main_module(name="kernel", create=True)
    if isinstance(main, tuple):
        main = main[0]
    # Up to _end, not _etext: the idle task's bottom frames (start_kernel ...) are in .init.text,
    # which follows the data sections; kallsyms and the ORC tables still cover it.
    main.address_range = (_symbol(prog, "_stext"), _symbol(prog, "_end"))
    _check_orc(prog, btf, info)
    _modules(prog, info)
    return info


def _cached_kallsyms(session: Session, blob: bytes, info: SelfInfo) -> Any:
    """The profile's symbol table, shifted to this dump's KASLR base and checked against every
    image address VMCOREINFO lists; None (with a note) when it cannot be used."""
    from .ksymcache import CachedKallsyms, KsymCacheError

    stext = session.vmcoreinfo.get("SYMBOL(_stext)")
    try:
        if stext is None:
            raise KsymCacheError("the dump's VMCOREINFO has no SYMBOL(_stext) to place them")
        cached = CachedKallsyms(blob, int(stext, 16))
        cached.check(session.vmcoreinfo)
    except (KsymCacheError, ValueError) as exc:
        info.notes.append(f"the profile's kallsyms not used: {exc}; read from the dump")
        return None
    return cached


def _check_orc(prog: Any, btf: BtfTypes, info: SelfInfo) -> None:
    try:
        prog.symbol("__start_orc_unwind_ip")
    except LookupError:
        info.unwinder = "none (no ORC tables in the kernel: frames are unreliable)"
        info.notes.append("the kernel has no ORC unwind tables (CONFIG_UNWINDER_ORC off): the stack is not trusted")
        return
    layout = orc_layout(btf)
    if layout:
        info.unwinder = f"ORC ({layout})"


def orc_layout(btf: BtfTypes) -> Optional[str]:
    """The dump's own ``struct orc_entry`` flag fields, e.g. "sp_reg:4 bp_reg:4 type:2 end:1"."""
    tid = btf.find_id("struct", "orc_entry")
    if tid is None:
        return None
    t = btf.type(tid)
    parts = [f"{m.name}:{m.bit_field_size}" for m in t.members if m.bit_field_size]
    return " ".join(parts) or None


def _modules(prog: Any, info: SelfInfo) -> None:
    """Create drgn's loaded modules (address ranges, ORC) and register module kallsyms."""
    from drgn.helpers.linux.kallsyms import load_module_kallsyms

    try:
        for _module, _new in prog.loaded_modules():
            pass
    except Exception as exc:
        info.notes.append(f"loaded modules not listed: {exc}")
        return
    try:
        prog.register_symbol_finder("gsotriage_module_kallsyms", load_module_kallsyms(prog), enable_index=1)
    except Exception as exc:
        info.notes.append(f"module symbols not read: {exc}")
