"""Units of the debuginfo-free mode that need no dump: BTF parsing, settings, profiles, global types."""

from __future__ import annotations

import struct
from array import array
from pathlib import Path
from typing import List, Tuple

import pytest

from gsotriage.collect.btf import BtfError, BtfIndex, Kind
from gsotriage.collect.globaltypes import global_type_spelling
from gsotriage.collect.profile import find_profile, write_profile
from gsotriage.collect.settings import load_settings


def _btf(types: List[bytes], strings: List[str]) -> Tuple[bytes, List[int]]:
    """A BTF blob (header, types, strings); returns it and each string's offset."""
    strtab = b"\0"
    offs = []
    for s in strings:
        offs.append(len(strtab))
        strtab += s.encode() + b"\0"
    body = b"".join(types)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strtab))
    return header + body + strtab, offs


def _t(name_off: int, kind: int, vlen: int, size_or_type: int, kind_flag: int = 0) -> bytes:
    return struct.pack("<III", name_off, (kind_flag << 31) | (kind << 24) | vlen, size_or_type)


def _sample() -> bytes:
    names = ["int", "sk_buff", "len", "SKB_GSO_TCPV4", "SKB_GSO_FRAGLIST", "flag", "runqueues"]
    _, o = _btf([], names)
    types = [
        _t(o[0], Kind.INT, 0, 4) + struct.pack("<I", (1 << 24) | 32),  # 1: int (signed)
        _t(o[1], Kind.STRUCT, 2, 8, kind_flag=1)  # 2: struct sk_buff { int len; int flag:1; }
        + struct.pack("<III", o[2], 1, 0)
        + struct.pack("<III", o[5], 1, (1 << 24) | 32),
        _t(0, Kind.ENUM, 2, 4)  # 3: anonymous enum
        + struct.pack("<Ii", o[3], 1)
        + struct.pack("<Ii", o[4], 1 << 18),
        _t(0, Kind.PTR, 0, 2),  # 4: struct sk_buff *
        _t(o[6], Kind.VAR, 0, 1) + struct.pack("<I", 1),  # 5: int runqueues
    ]
    blob, _ = _btf(types, names)
    return blob


def test_btf_index_finds_types_and_enumerators() -> None:
    idx = BtfIndex(_sample())
    assert len(idx) == 5
    assert idx.ids_named("sk_buff") == [2]
    assert idx.header(2)[1] == Kind.STRUCT and idx.header(2)[4] == 8
    assert idx.enumerator("SKB_GSO_FRAGLIST") == (3, 1 << 18)
    assert idx.enumerator("SKB_GSO_TCPV4") == (3, 1)
    assert idx.enumerator("sk_buff") is None  # a type name is not an enumerator
    assert idx.ids_named("nope") == []
    members = list(idx.members(2))
    assert members[1][2] == (1 << 24) | 32  # bitfield: size 1 at bit 32


def test_btf_index_reuses_a_stored_index() -> None:
    blob = _sample()
    offsets = BtfIndex(blob).offsets
    again = BtfIndex(blob, array("I", offsets.tobytes()))
    assert again.ids_named("runqueues") == [5]


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x00" * 10, "shorter"),
        (struct.pack("<HBBIIIII", 0x1234, 1, 0, 24, 0, 0, 0, 0), "magic"),
        (struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 100, 100, 1), "past its end"),
    ],
)
def test_btf_malformed(blob: bytes, message: str) -> None:
    with pytest.raises(BtfError, match=message):
        BtfIndex(blob)


def test_btf_record_cut_short() -> None:
    names = ["s"]
    _, o = _btf([], names)
    blob, _ = _btf([_t(o[0], Kind.STRUCT, 3, 8)], names)  # claims 3 members, has none
    with pytest.raises(BtfError):
        BtfIndex(blob)


def test_btf_types_with_drgn() -> None:
    drgn = pytest.importorskip("drgn")
    from gsotriage.collect.btf import BtfTypes

    prog = drgn.Program(
        drgn.Platform(drgn.Architecture.X86_64, drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)
    )
    types = BtfTypes(prog, BtfIndex(_sample()))
    skb = types.named("struct", "sk_buff")
    assert skb.size == 8 and [m.name for m in skb.members] == ["len", "flag"]
    assert skb.members[1].bit_field_size == 1 and skb.members[1].bit_offset == 32
    assert types.type(4).type.tag == "sk_buff"
    enum = types.type(3)
    assert [(e.name, e.value) for e in enum.enumerators] == [("SKB_GSO_TCPV4", 1), ("SKB_GSO_FRAGLIST", 1 << 18)]
    assert types.find_id("var", "runqueues") == 5


def test_btf_memo_answers_the_lookups_of_earlier_runs_without_the_name_indexes() -> None:
    """A per-build profile keeps the BTF lookups an analysis made (type ids by kind and name,
    enumerators): the next run of the build answers them without building the name-offset
    and enumerator indexes (about 60 ms on Debian 6.1's BTF), and what is not in the memo
    is still found the slow way."""
    drgn = pytest.importorskip("drgn")
    from gsotriage.collect.btf import BtfTypes

    prog = drgn.Program(
        drgn.Platform(drgn.Architecture.X86_64, drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN)
    )
    blob = _sample()
    first = BtfTypes(prog, BtfIndex(blob))
    assert first.find_id("struct", "sk_buff") == 2 and first.find_id("struct", "nope") is None
    assert first.index.enumerator("SKB_GSO_FRAGLIST") == (3, 1 << 18)
    memo = first.memo()
    assert memo == {
        "types": {"struct nope": None, "struct sk_buff": 2},
        "enumerators": {"SKB_GSO_FRAGLIST": [3, 1 << 18]},
    }
    index = BtfIndex(blob, first.index.offsets)
    warm = BtfTypes(prog, index, memo)
    assert warm.find_id("struct", "sk_buff") == 2 and warm.find_id("struct", "nope") is None
    assert index.enumerator("SKB_GSO_FRAGLIST") == (3, 1 << 18)
    assert index._by_name is None and index._enum_by_name is None, "answered from the memo"
    assert index.enumerator("SKB_GSO_TCPV4") == (3, 1) and warm.find_id("var", "runqueues") == 5
    # A memo entry that cannot belong to this BTF (a type id past its end) is not trusted.
    bad = BtfTypes(prog, BtfIndex(blob), {"types": {"struct sk_buff": 99}, "enumerators": {"X": [99, 1]}})
    assert bad.find_id("struct", "sk_buff") == 2 and bad.index.enumerator("X") is None


def test_global_type_placeholders() -> None:
    consts = {"NETDEV_FEATURE_COUNT": 64}
    assert global_type_spelling("netdev_features_strings", consts.get) == "const char [64][32]"
    assert global_type_spelling("netdev_features_strings", {}.get) is None  # unknown bound: no guess
    assert global_type_spelling("init_net", {}.get) == "struct net"
    assert global_type_spelling("no_such_global", {}.get) is None


def test_settings_env_over_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[debuginfo]\ndebuginfod = true\nno_debuginfo = true\n[profiles]\ndirs = ["/a", "/b"]\n')
    monkeypatch.setenv("GSOTRIAGE_CONFIG", str(cfg))
    for var in ("GSOTRIAGE_DEBUGINFOD", "GSOTRIAGE_NO_DEBUGINFO", "GSOTRIAGE_PROFILE_DIR", "GSOTRIAGE_PROFILES"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.debuginfod and s.no_debuginfo and s.profile_dirs == ("/a", "/b") and s.profiles
    monkeypatch.setenv("GSOTRIAGE_NO_DEBUGINFO", "0")
    monkeypatch.setenv("GSOTRIAGE_PROFILE_DIR", "/c:/d")
    s = load_settings()
    assert not s.no_debuginfo and s.profile_dirs == ("/c", "/d")


def test_settings_bad_config_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[debuginfo\n")
    monkeypatch.setenv("GSOTRIAGE_CONFIG", str(cfg))
    s = load_settings()
    assert s.notes and "ignored" in s.notes[0] and not s.no_debuginfo


def test_profile_roundtrip_and_digest(tmp_path: Path) -> None:
    blob = _sample()
    offsets = BtfIndex(blob).offsets
    bid = "01d2640d3a13145ee314eb05b155f141b7b7058b"
    ro = tmp_path / "ro"  # a file where a directory should be: not writable as a profile dir
    ro.write_text("")
    path, why = write_profile([str(ro), str(tmp_path / "rw")], bid, {"release": "6.1"}, blob, offsets)
    assert path and why is None and path.startswith(str(tmp_path / "rw"))
    prof, why = find_profile([str(tmp_path / "rw")], bid)
    assert prof is not None and prof.btf_data == blob and list(prof.btf_offsets or []) == list(offsets)
    assert find_profile([str(tmp_path / "rw")], "ab" * 20)[0] is None
    (Path(path) / "btf.bin").write_bytes(blob[:-1] + b"x")  # corrupted blob: ignored
    prof, why = find_profile([str(tmp_path / "rw")], bid)
    assert prof is None and why and "digest" in why
    assert write_profile([str(ro)], bid, {}, blob, offsets)[0] is None
    assert find_profile([str(tmp_path)], None)[0] is None
