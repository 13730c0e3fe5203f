"""The per-build profile's kallsyms (collect/ksymcache.py): lookups answered as drgn's own
SymbolIndex answers them, shifted by KASLR, refused when VMCOREINFO disagrees."""

from __future__ import annotations

import pytest

from gsotriage.collect.ksymcache import CachedKallsyms, KsymCacheError, pack_symbols

drgn = pytest.importorskip("drgn")

STEXT = 0xFFFFFFFF81000000
_G, _L = drgn.SymbolBinding.GLOBAL, drgn.SymbolBinding.LOCAL
_F, _O = drgn.SymbolKind.FUNC, drgn.SymbolKind.OBJECT


def _symbols():
    """Kallsyms-shaped: sorted by address, a per-cpu offset, an alias, a zero-size symbol and a
    name used twice (two static functions)."""
    sym = drgn.Symbol
    return [
        sym("fixed_percpu_data", 0x0, 0x0, _G, _O),
        sym("runqueues", 0x2C000, 0x1000, _G, _O),
        sym("_stext", STEXT, 0x0, _G, _F),
        sym("startup_64", STEXT, 0x40, _G, _F),
        sym("helper", STEXT + 0x40, 0x20, _L, _F),
        sym("skb_segment", STEXT + 0x60, 0x900, _G, _F),
        sym("helper", STEXT + 0x960, 0x10, _L, _F),
        sym("init_uts_ns", STEXT + 0x2000000, 0x180, _G, _O),
    ]


def _key(found):
    return [(s.name, s.address, s.size, s.binding, s.kind) for s in found]


@pytest.mark.parametrize("delta", [0, 0x1E00000])
def test_lookups_agree_with_drgns_symbol_index(delta):
    """``delta``: this dump's KASLR shift from the dump that wrote the profile."""
    syms = _symbols()
    moved = [
        drgn.Symbol(s.name, s.address + delta if s.address >= STEXT else s.address, s.size, s.binding, s.kind)
        for s in syms
    ]
    ref = drgn.SymbolIndex(moved)
    cache = CachedKallsyms(pack_symbols(syms, STEXT), STEXT + delta)
    prog = None
    addresses = [0x2C010, STEXT + delta, STEXT + delta + 0x41, STEXT + delta + 0x500, STEXT + delta + 0x965]
    addresses += [STEXT + delta + 0x970, STEXT + delta + 0x2000010, 0x5]
    for address in addresses:
        for one in (True, False):
            assert _key(cache(prog, None, address, one)) == _key(ref(prog, None, address, one)), hex(address)
    for name in ("skb_segment", "init_uts_ns", "runqueues", "nope"):
        assert _key(cache(prog, name, None, False)) == _key(ref(prog, name, None, False)), name
    assert sorted(_key(cache(prog, "helper", None, False))) == sorted(_key(ref(prog, "helper", None, False)))
    assert len(cache(prog, None, None, False)) == len(syms)


def test_vmcoreinfo_disagreeing_with_the_stored_table_refuses_it():
    cache = CachedKallsyms(pack_symbols(_symbols(), STEXT), STEXT)
    good = {"SYMBOL(init_uts_ns)": f"{STEXT + 0x2000000:x}", "SYMBOL(mem_section)": "ff27f6e78fd6c680"}
    cache.check(good)  # a pointer value outside the image (mem_section) is not compared
    with pytest.raises(KsymCacheError, match="init_uts_ns"):
        cache.check({"SYMBOL(init_uts_ns)": f"{STEXT + 0x2000040:x}"})
    with pytest.raises(KsymCacheError, match="no VMCOREINFO symbol"):
        cache.check({"OSRELEASE": "6.1.0"})


@pytest.mark.parametrize("cut", [4, 40, -3])
def test_a_damaged_blob_is_an_error_not_a_wrong_table(cut):
    blob = pack_symbols(_symbols(), STEXT)
    with pytest.raises(KsymCacheError):
        CachedKallsyms(blob[:cut], STEXT)
