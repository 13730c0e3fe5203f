"""The kernel's own BTF (``__start_BTF``..``__stop_BTF`` in kernel memory) as drgn types.

BTF is the compact type format the kernel carries for BPF (``CONFIG_DEBUG_INFO_BTF``,
on in current Debian, Ubuntu, Fedora and RHEL kernels). Its layout is described in
the kernel's Documentation/bpf/btf.rst: a header, a type section of variable-length
records (type id = position, from 1) and a string section.

Speed matters: a vmlinux BTF has 100k+ types. :class:`BtfIndex` makes one pass over
the records to note where each one starts (no string decoding), and the index can
be saved in a per-build profile so later runs skip even that. drgn types are built
on demand, members lazily, so an analysis only pays for the types it touches.
"""

from __future__ import annotations

import operator
import re
import struct
from array import array
from itertools import repeat
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

__all__ = ["BTF_MAGIC", "BtfError", "BtfIndex", "BtfTypes", "Kind"]

BTF_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")


class Kind:
    """BTF_KIND_* (include/uapi/linux/btf.h)."""

    INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
    VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
    FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19


# Bytes that follow the 12-byte common header: fixed, and per vlen entry.
_FIXED = {Kind.INT: 4, Kind.ARRAY: 12, Kind.VAR: 4, Kind.DECL_TAG: 4}
_PER_ENTRY = {
    Kind.STRUCT: 12,
    Kind.UNION: 12,
    Kind.ENUM: 8,
    Kind.FUNC_PROTO: 8,
    Kind.DATASEC: 12,
    Kind.ENUM64: 12,
}
_INT_SIGNED, _INT_BOOL = 1, 4
# The top byte of an info word of an ENUM or ENUM64 record, kind_flag (signed) clear or set.
_ENUM_KINDS = bytes([Kind.ENUM, Kind.ENUM | 0x80, Kind.ENUM64, Kind.ENUM64 | 0x80])
_ENUM_KIND_BYTE = re.compile(b"[" + re.escape(_ENUM_KINDS) + b"]")


class BtfError(Exception):
    """Malformed BTF (one sentence)."""


class BtfIndex:
    """Where each type record starts, its kind and name offset; strings by name.

    ``offsets[i]`` is the offset of type id ``i + 1`` in the type section.
    """

    def __init__(self, data: bytes, offsets: Optional[array] = None) -> None:
        base, type_off, type_len, str_off, str_len = self.check_header(data)
        self.types = memoryview(data)[base + type_off : base + type_off + type_len]
        self.strings = bytes(data[base + str_off : base + str_off + str_len])
        self.offsets = offsets if offsets is not None else self._scan()
        self._word_array: Optional[array] = None
        self._str_cache: Dict[str, Optional[int]] = {}
        self._by_name: Optional[bytes] = None
        self._enum_by_name: Optional[Dict[int, Tuple[int, int]]] = None
        # enumerator name -> (enum type id, value) or None: every lookup of this analysis,
        # seeded from a per-build profile's memo (see BtfTypes.memo)
        self.enum_lookups: Dict[str, Optional[Tuple[int, int]]] = {}

    @staticmethod
    def check_header(data: bytes) -> Tuple[int, int, int, int, int]:
        """(header length, type offset, type length, string offset, string length); raises
        :class:`BtfError` when the header is not BTF's or its sections run past the end."""
        if len(data) < _HEADER.size:
            raise BtfError("BTF shorter than its header")
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
        if magic != BTF_MAGIC:
            raise BtfError(f"bad BTF magic {magic:#x}")
        if hdr_len + type_off + type_len > len(data) or hdr_len + str_off + str_len > len(data):
            raise BtfError("BTF sections run past its end")
        return hdr_len, type_off, type_len, str_off, str_len

    def _scan(self) -> array:
        # The type section is a run of 4-byte words; walking them as an array of ints is
        # about 3x faster than unpacking a tuple per record.
        words = array("I")
        words.frombytes(bytes(self.types[: len(self.types) // 4 * 4]))
        fixed = [_FIXED.get(k, 0) // 4 for k in range(32)]
        per = [_PER_ENTRY.get(k, 0) // 4 for k in range(32)]
        offsets = array("I")
        append = offsets.append
        end = len(words)
        i = 0
        while i < end:
            append(i * 4)
            info = words[i + 1]
            kind = (info >> 24) & 0x1F
            i += 3 + fixed[kind] + per[kind] * (info & 0xFFFF)
        if i != end or len(self.types) % 4:
            raise BtfError("BTF type section ends inside a record")
        return offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def header(self, tid: int) -> Tuple[int, int, int, int, int]:
        """(name_off, kind, vlen, kind_flag, size_or_type) of type ``tid`` (>= 1)."""
        name_off, info, size = _TYPE.unpack_from(self.types, self.offsets[tid - 1])
        return name_off, (info >> 24) & 0x1F, info & 0xFFFF, info >> 31, size

    def string(self, off: int) -> str:
        end = self.strings.find(b"\0", off)
        return self.strings[off : end if end >= 0 else len(self.strings)].decode("utf-8", "replace")

    def string_offset(self, name: str) -> Optional[int]:
        """Offset of ``name`` in the string section (deduplicated: one copy of each string)."""
        if name in self._str_cache:
            return self._str_cache[name]
        pos = self.strings.find(b"\0" + name.encode() + b"\0")
        found = None if pos < 0 else pos + 1
        self._str_cache[name] = found
        return found

    def _words(self) -> array:
        if self._word_array is None:
            words = array("I")
            words.frombytes(bytes(self.types[: len(self.types) // 4 * 4]))
            self._word_array = words
        return self._word_array

    def _field(self, word: int) -> bytes:
        """Word ``word`` (0: name_off, 1: info) of every record, in type id order, as the bytes
        of an array("I"): gathered by operator.itemgetter, a C loop, not a Python one."""
        words = self._words()
        if not self.offsets:
            return b""
        starts = map(operator.rshift, self.offsets, repeat(2))
        if word:
            starts = map(operator.add, starts, repeat(word))
        got = operator.itemgetter(*starts)(words)
        return array("I", got if isinstance(got, tuple) else (got,)).tobytes()

    def _names(self) -> bytes:
        """Every record's name offset (``array("I")`` bytes, type id - 1 = index), built once on
        first use; a lookup is then a search of these bytes (see :meth:`ids_named`)."""
        if self._by_name is None:
            self._by_name = self._field(0)
        return self._by_name

    def ids_named(self, name: str) -> List[int]:
        """Type ids whose name is ``name``."""
        off = self.string_offset(name)
        if off is None:
            return []
        blob, pattern, out = self._names(), struct.pack("<I", off), []
        pos = blob.find(pattern)
        while pos >= 0:
            if pos % 4 == 0:
                out.append(pos // 4 + 1)
            pos = blob.find(pattern, pos + 1)
        return out

    def _enumerators(self) -> Dict[int, Tuple[int, int]]:
        """enumerator name offset -> (enum type id, value), built once on first use. The enum
        records are found by the kind byte of each info word (its top byte: kind | kind_flag
        << 7), their entries unpacked a record at a time."""
        if self._enum_by_name is None:
            found: Dict[int, Tuple[int, int]] = {}
            top = self._field(1)[3::4]
            types = self.types
            for hit in _ENUM_KIND_BYTE.finditer(top):
                tid = hit.start() + 1
                _n, kind, vlen, signed, _s = self.header(tid)
                start = self.offsets[tid - 1] + 12
                if kind == Kind.ENUM64:
                    entries: Iterator[Tuple[int, ...]] = struct.iter_unpack("<III", types[start : start + 12 * vlen])
                    for e_name, lo, hi in entries:
                        value = lo | (hi << 32)
                        if signed and value >> 63:
                            value -= 1 << 64
                        found.setdefault(e_name, (tid, value))
                else:
                    fmt = "<Ii" if signed else "<II"
                    for e_name, value in struct.iter_unpack(fmt, types[start : start + 8 * vlen]):
                        found.setdefault(e_name, (tid, value))
            self._enum_by_name = found
        return self._enum_by_name

    def enumerator(self, name: str) -> Optional[Tuple[int, int]]:
        """(enum type id, value) of the enumerator ``name`` (enum constants are not types)."""
        if name in self.enum_lookups:
            return self.enum_lookups[name]
        off = self.string_offset(name)
        found = None if off is None else self._enumerators().get(off)
        self.enum_lookups[name] = found
        return found

    def members(self, tid: int) -> Iterator[Tuple[int, int, int]]:
        """(name_off, type, offset) of a struct/union; (name_off, value, value_hi) of an enum; etc."""
        _n, kind, vlen, _kf, _s = self.header(tid)
        off = self.offsets[tid - 1] + 12 + _FIXED.get(kind, 0)
        size = _PER_ENTRY.get(kind, 0)
        for i in range(vlen):
            p = off + i * size
            if size == 12:
                yield struct.unpack_from("<III", self.types, p)
            elif size == 8:
                a, b = struct.unpack_from("<II", self.types, p)
                yield a, b, 0

    def fixed_part(self, tid: int) -> Tuple[int, ...]:
        """The fixed-size part after the common header (INT encoding, ARRAY triple, VAR linkage)."""
        _n, kind, _v, _kf, _s = self.header(tid)
        n = _FIXED.get(kind, 0) // 4
        return struct.unpack_from(f"<{n}I", self.types, self.offsets[tid - 1] + 12) if n else ()


_TAGGED = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}


class BtfTypes:
    """drgn types built from a :class:`BtfIndex`, cached by type id."""

    def __init__(self, prog: Any, index: BtfIndex, memo: Optional[Dict[str, Any]] = None) -> None:
        """:param memo: a per-build profile's record of earlier analyses' lookups (see :meth:`memo`):
        the same BTF answers them without building the name and enumerator indexes
        (about 60 ms on a Debian 6.1 kernel)."""
        self.prog = prog
        self.index = index
        self._cache: Dict[int, Any] = {}
        self._by_name: Dict[Tuple[str, str], Optional[int]] = {}
        if memo:
            self._seed(memo)

    def _seed(self, memo: Dict[str, Any]) -> None:
        count = len(self.index)
        for key, tid in (memo.get("types") or {}).items():
            kind, _, name = key.partition(" ")
            if name and (tid is None or (isinstance(tid, int) and 0 < tid <= count)):
                self._by_name[(kind, name)] = tid
        for name, hit in (memo.get("enumerators") or {}).items():
            if hit is None:
                self.index.enum_lookups[name] = None
            elif isinstance(hit, list) and len(hit) == 2 and 0 < hit[0] <= count:
                self.index.enum_lookups[name] = (int(hit[0]), int(hit[1]))

    def memo(self) -> Dict[str, Any]:
        """The lookups this analysis made (seeded ones included), for the per-build profile."""
        return {
            "types": {f"{kind} {name}": tid for (kind, name), tid in sorted(self._by_name.items())},
            "enumerators": {
                name: (list(hit) if hit is not None else None) for name, hit in sorted(self.index.enum_lookups.items())
            },
        }

    # -- lookups by name ---------------------------------------------------------------
    def find_id(self, kind: str, name: str) -> Optional[int]:
        """``kind`` is "struct", "union", "enum", "typedef", "base" (int/float) or "var"/"func"."""
        key = (kind, name)
        if key in self._by_name:
            return self._by_name[key]
        want = {
            "struct": (Kind.STRUCT,),
            "union": (Kind.UNION,),
            "enum": (Kind.ENUM, Kind.ENUM64),
            "typedef": (Kind.TYPEDEF,),
            "base": (Kind.INT, Kind.FLOAT),
            "var": (Kind.VAR,),
            "func": (Kind.FUNC,),
        }[kind]
        found = None
        for tid in self.index.ids_named(name):
            if self.index.header(tid)[1] in want:
                found = tid
                break
        self._by_name[key] = found
        return found

    def named(self, kind: str, name: str) -> Optional[Any]:
        tid = self.find_id(kind, name)
        return None if tid is None else self.type(tid)

    # -- construction ------------------------------------------------------------------
    def type(self, tid: int) -> Any:
        """The drgn.Type of BTF type id ``tid`` (0 is void)."""
        got = self._cache.get(tid)
        if got is None:
            got = self._build(tid)
            self._cache[tid] = got
        return got

    def _lazy(self, tid: int) -> Callable[[], Any]:
        return lambda: self.type(tid)

    def _build(self, tid: int) -> Any:
        from drgn import Qualifiers, TypeEnumerator, TypeParameter

        prog = self.prog
        if tid == 0:
            return prog.void_type()
        idx = self.index
        name_off, kind, vlen, kind_flag, size = idx.header(tid)
        name = idx.string(name_off) if name_off else None
        if kind == Kind.INT:
            (enc,) = idx.fixed_part(tid)
            encoding = (enc >> 24) & 0xF
            if encoding & _INT_BOOL:
                return prog.bool_type(name or "_Bool", size)
            return prog.int_type(name or f"int{size * 8}", size, bool(encoding & _INT_SIGNED))
        if kind == Kind.FLOAT:
            return prog.float_type(name or "double", size)
        if kind == Kind.PTR:
            return prog.pointer_type(self.type(size))
        if kind == Kind.ARRAY:
            elem, _index_type, nelems = idx.fixed_part(tid)
            return prog.array_type(self.type(elem), nelems if nelems else None)
        if kind in (Kind.STRUCT, Kind.UNION):
            return self._compound(tid, kind, name, size, kind_flag)
        if kind in (Kind.ENUM, Kind.ENUM64):
            if vlen == 0:
                return prog.enum_type(name)
            signed = bool(kind_flag)
            enumerators = []
            bits = 64 if kind == Kind.ENUM64 else 32
            for e_name, lo, hi in idx.members(tid):
                value = lo | (hi << 32) if kind == Kind.ENUM64 else lo
                if signed and value >> (bits - 1):
                    value -= 1 << bits
                enumerators.append(TypeEnumerator(idx.string(e_name), value))
            compat = prog.int_type(("" if signed else "unsigned ") + ("long" if size == 8 else "int"), size, signed)
            return prog.enum_type(name, compat, enumerators)
        if kind == Kind.FWD:
            # Prefer the complete definition of the same name when the BTF has one.
            tag = "union" if kind_flag else "struct"
            full = self.find_id(tag, name) if name else None
            if full is not None:
                return self.type(full)
            return prog.union_type(name) if kind_flag else prog.struct_type(name)
        if kind == Kind.TYPEDEF:
            return prog.typedef_type(name, self.type(size))
        if kind in (Kind.VOLATILE, Kind.CONST, Kind.RESTRICT):
            target = self.type(size)
            q = {Kind.VOLATILE: Qualifiers.VOLATILE, Kind.CONST: Qualifiers.CONST, Kind.RESTRICT: Qualifiers.RESTRICT}
            return target.qualified(target.qualifiers | q[kind])
        if kind in (Kind.TYPE_TAG, Kind.DECL_TAG, Kind.VAR, Kind.FUNC):
            return self.type(size)
        if kind == Kind.FUNC_PROTO:
            params = []
            variadic = False
            for p_name, p_type, _ in idx.members(tid):
                if p_type == 0 and p_name == 0:
                    variadic = True
                    continue
                params.append(TypeParameter(self._lazy(p_type), idx.string(p_name) if p_name else None))
            return prog.function_type(self.type(size), params, variadic)
        raise BtfError(f"BTF type {tid} has unknown kind {kind}")

    def _compound(self, tid: int, kind: int, name: Optional[str], size: int, kind_flag: int) -> Any:
        from drgn import TypeMember

        idx = self.index
        members = []
        for m_name, m_type, m_off in idx.members(tid):
            if kind_flag:
                bit_size, bit_off = m_off >> 24, m_off & 0xFFFFFF
            else:
                bit_size, bit_off = 0, m_off
            mname = idx.string(m_name) if m_name else None
            if bit_size:
                members.append(TypeMember(self._bitfield(m_type, bit_size), mname, bit_off))
            else:
                members.append(TypeMember(self._lazy(m_type), mname, bit_off))
        make = self.prog.union_type if kind == Kind.UNION else self.prog.struct_type
        return make(name, size, members)

    def _bitfield(self, tid: int, bits: int) -> Callable[[], Any]:
        def build() -> Any:
            from drgn import Object

            return Object(self.prog, self.type(tid), bit_field_size=bits)

        return build


def tag_of(kind: int) -> Optional[str]:
    return _TAGGED.get(kind)
