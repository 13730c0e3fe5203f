"""The kernel's kallsyms, kept in a per-build profile: a warm run reads no kallsyms from the dump.

drgn's ``load_vmlinux_kallsyms()`` decodes the dump's compressed kallsyms tables into a
symbol index (75-150 ms for the 87,000 symbols of a Debian 6.1 kernel). The first run that
uses a profile stores that index in ``kallsyms.bin``; later runs of the build register
:class:`CachedKallsyms`, a symbol finder over the stored arrays that answers the few
lookups an analysis makes (stack frames, a few dozen globals) the way drgn's
``SymbolIndex`` does (libdrgn/symbol.c ``drgn_symbol_index_find``): by address, the
first symbol in address order, from ``bisect_right(max_addrs)`` up to
``bisect_right(addrs)``, that contains it; by name, the symbols of that name.

KASLR moves the kernel image between boots of one build: addresses in the image range are
stored as they were and shifted by this dump's ``SYMBOL(_stext)`` minus the recorded
``_stext``. Every ``SYMBOL(name)`` the dump's VMCOREINFO lists must then agree with the
cache, or the cache is not used (a note, and the dump's kallsyms are read as before).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["CachedKallsyms", "KsymCacheError", "pack_symbols"]

_MAGIC = b"GSOKSYM1"
_HEAD = struct.Struct("<8sIQI")  # magic, count, the writer's _stext, length of the names
# Addresses of the kernel image (x86-64 and arm64 map it in the top 2 GiB / top half):
# what KASLR moves. Per-cpu symbols are offsets (small numbers) and stay put.
_IMAGE_START = 0xFFFF_0000_0000_0000
# x86-64's kernel image mapping (Documentation/arch/x86/x86_64/mm.rst): the VMCOREINFO
# addresses checked. Other architectures find none to check and read the dump's kallsyms.
_X86_64_IMAGE = 0xFFFF_FFFF_8000_0000


class KsymCacheError(Exception):
    """The stored kallsyms cannot be used for this dump (one sentence)."""


def pack_symbols(symbols: Sequence[Any], stext: int) -> bytes:
    """The blob for ``symbols`` (drgn Symbols in index order) of a kernel whose ``_stext`` is ``stext``."""
    n = len(symbols)
    addrs = array("Q", (s.address for s in symbols))
    sizes = array("Q", (s.size for s in symbols))
    maxes = array("Q", bytes(8 * n))
    top = 0
    for i in range(n):
        top = max(top, addrs[i] + sizes[i])
        maxes[i] = top
    kinds = bytes(b for s in symbols for b in (s.binding.value, s.kind.value))
    names = [s.name.encode() for s in symbols]
    order = array("I", sorted(range(n), key=names.__getitem__))
    joined = b"\0".join(names)
    return b"".join(
        (
            _HEAD.pack(_MAGIC, n, stext, len(joined)),
            addrs.tobytes(),
            sizes.tobytes(),
            maxes.tobytes(),
            kinds,
            order.tobytes(),
            joined,
        )
    )


class CachedKallsyms:
    """A drgn symbol finder (``prog.register_symbol_finder``) over a :func:`pack_symbols` blob."""

    def __init__(self, blob: bytes, stext: int) -> None:
        """:param stext: this dump's ``_stext`` (VMCOREINFO ``SYMBOL(_stext)``)."""
        if len(blob) < _HEAD.size:
            raise KsymCacheError("the stored kallsyms are cut short")
        magic, n, recorded, names_len = _HEAD.unpack_from(blob)
        if magic != _MAGIC:
            raise KsymCacheError("the stored kallsyms have another format")
        pos = _HEAD.size

        def take(code: str, count: int) -> array:
            nonlocal pos
            out = array(code)
            size = out.itemsize * count
            if pos + size > len(blob):
                raise KsymCacheError("the stored kallsyms are cut short")
            out.frombytes(blob[pos : pos + size])
            pos += size
            return out

        self._addrs = take("Q", n)
        self._sizes = take("Q", n)
        self._maxes = take("Q", n)
        self._kinds = take("B", 2 * n)
        self._order = take("I", n)
        if len(blob) - pos != names_len:
            raise KsymCacheError("the stored kallsyms names are cut short")
        self._names = blob[pos:].split(b"\0")
        if len(self._names) != n:
            raise KsymCacheError("the stored kallsyms names do not match their count")
        self._delta = (stext - recorded) & 0xFFFF_FFFF_FFFF_FFFF
        self.count = n

    def _shift(self, address: int) -> int:
        return (address + self._delta) & 0xFFFF_FFFF_FFFF_FFFF if address >= _IMAGE_START else address

    def _unshift(self, address: int) -> int:
        return (address - self._delta) & 0xFFFF_FFFF_FFFF_FFFF if address >= _IMAGE_START else address

    def address_of(self, name: str) -> Optional[int]:
        """The (shifted) address of the first symbol called ``name``."""
        hits = self._named(name.encode())
        return self._shift(self._addrs[hits[0]]) if hits else None

    def check(self, vmcoreinfo: Dict[str, str]) -> None:
        """Raise :class:`KsymCacheError` unless every ``SYMBOL(name)`` of the dump agrees."""
        checked = 0
        for key, value in vmcoreinfo.items():
            if not (key.startswith("SYMBOL(") and key.endswith(")")):
                continue
            try:
                theirs = int(value, 16)
            except ValueError:
                continue
            if theirs < _X86_64_IMAGE:
                # Some SYMBOL() lines print a pointer's value, not its address (mem_section with
                # SPARSEMEM_EXTREME, vmemmap): only addresses in the kernel image are compared.
                continue
            name = key[7:-1]
            mine = self.address_of(name)
            if mine is None:
                continue  # VMCOREINFO also lists variables kallsyms leaves out
            if mine != theirs:
                raise KsymCacheError(f"stored kallsyms put {name} at {mine:#x}, the dump at {theirs:#x}")
            checked += 1
        if not checked:
            raise KsymCacheError("no VMCOREINFO symbol to check the stored kallsyms against")

    def _named(self, name: bytes) -> List[int]:
        names, order = self._names, self._order
        lo = bisect_left(order, name, key=names.__getitem__)
        out = []
        while lo < len(order) and names[order[lo]] == name:
            out.append(order[lo])
            lo += 1
        return out

    def _symbol(self, i: int) -> Any:
        from drgn import Symbol, SymbolBinding, SymbolKind

        return Symbol(
            self._names[i].decode("utf-8", "replace"),
            self._shift(self._addrs[i]),
            self._sizes[i],
            SymbolBinding(self._kinds[2 * i]),
            SymbolKind(self._kinds[2 * i + 1]),
        )

    def __call__(self, _prog: Any, name: Optional[str], address: Optional[int], one: bool) -> List[Any]:
        if address is not None:
            at = self._unshift(address)
            hits = []
            for i in range(bisect_right(self._maxes, at), bisect_right(self._addrs, at)):
                if not (self._addrs[i] <= at < self._addrs[i] + self._sizes[i]):
                    continue
                if name is not None and self._names[i] != name.encode():
                    continue
                hits.append(i)
                if one:
                    break
        elif name is not None:
            hits = self._named(name.encode())[: 1 if one else None]
        else:
            hits = list(range(min(1, self.count) if one else self.count))
        return [self._symbol(i) for i in hits]
