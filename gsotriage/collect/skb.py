"""Find the sk_buffs in play at the crash site and decode them (and their skb_shared_info).

Candidates come from typed frame locals (``head_skb``, ``gso_skb``, ``skb`` ...)
from the crash site down; when the compiler optimised them out, from the
exception registers and a bounded scan of the stack, keeping only pointers the
slab allocator places in an sk_buff cache and that pass a layout sanity check.
The subject (``skbs[0]``) is the GSO skb being segmented at the crash site.
Each unreadable field becomes ``None`` plus a note; nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from gsotriage.kernel.gso import decode_gso_type
from gsotriage.model import Frag, FragListMember, SharedInfo, Skb

__all__ = ["SkbFinder", "decode_skb", "gso_enum_bits"]

T = TypeVar("T")

# Locals worth reading, most telling first. head_skb/gso_skb are the skb being segmented.
_SUBJECT_NAMES = ("head_skb", "gso_skb")
_OTHER_NAMES = ("skb", "frag_skb", "list_skb", "segs", "nskb", "frag_list", "fskb", "p", "pp")
_SKB_CACHES = frozenset({"skbuff_head_cache", "skbuff_fclone_cache", "skbuff_cache"})
_MAX_SKBS = 8
_MAX_FRAGS = 17  # MAX_SKB_FRAGS default is 17 (configurable since 6.6)
_MAX_FRAG_LIST = 64
_MAX_STACK_SLOTS = 2048
_PAGE = 4096


def _gso_frame(name: Optional[str]) -> bool:
    if not name:
        return False
    return "gso" in name or name.endswith("_segment") or name == "validate_xmit_skb"


@dataclass
class _Ctx:
    notes: List[str] = field(default_factory=list)
    # drgn.FaultError (memory not in the dump: a page makedumpfile filtered out, a hole): one note
    # per (faulting page, object): (first faulting address, drgn's message, the fields made unknown).
    faults: Dict[Tuple[int, str], Tuple[int, str, List[str]]] = field(default_factory=dict)

    def get(self, what: str, fn: Callable[[], T]) -> Optional[T]:
        try:
            return fn()
        except Exception as exc:
            address = getattr(exc, "address", None) if type(exc).__name__ == "FaultError" else None
            if not isinstance(address, int):
                self.notes.append(f"{what}: unreadable ({type(exc).__name__}: {exc})")
                return None
            # "skb 0x... shinfo.gso_size" -> object "skb 0x...", field "shinfo.gso_size"
            obj, member = _split_what(what)
            message = str(getattr(exc, "message", None) or "unreadable")
            entry = self.faults.setdefault((address & ~(_PAGE - 1), obj), (address, message, []))
            entry[2].append(member)
            return None

    def fault_notes(self) -> List[str]:
        out = []
        for (page, obj), (first, message, fields) in self.faults.items():
            shown = ", ".join(fields[:8]) + (f" and {len(fields) - 8} more" if len(fields) > 8 else "")
            where = (
                f"physical page {page:#x} is not in the dump (filtered out or missing)"
                if not first >> 63
                else "the address is not mapped in the dump"
            )
            out.append(f"unreadable memory at {first:#x} ({message}): {where}; {obj}: unknown {shown}")
        return out


def _split_what(what: str) -> Tuple[str, str]:
    """Split after the object's address: ``"frag_list member 0x1 len"`` -> ("frag_list member 0x1", "len")."""
    head, sep, tail = what.partition(" 0x")
    if not sep:
        return what, "?"
    addr, _, member = tail.partition(" ")
    return f"{head}{sep}{addr}", member or "?"


def gso_enum_bits(prog: Any) -> Optional[Dict[str, int]]:
    """``enum skb_gso_type`` from the dump's own debug info (name without SKB_GSO_ -> mask)."""
    cached = prog.cache.get("gsotriage.gso_enum")
    if cached is not None:
        return dict(cached)
    # An anonymous enum in include/linux/skbuff.h: find it through one of its constants.
    try:
        enumerators = prog.constant("SKB_GSO_TCPV4").type_.enumerators
    except (LookupError, AttributeError):
        try:
            enumerators = prog.type("enum skb_gso_type").enumerators
        except LookupError:
            return None
    if not enumerators:
        return None
    bits = {name[len("SKB_GSO_") :]: int(value) for name, value, *_ in enumerators if name.startswith("SKB_GSO_")}
    prog.cache["gsotriage.gso_enum"] = bits
    return bits


def _skb_tail(skb: Any) -> int:
    """``skb_tail_pointer()``: like ``end``, an offset from ``head`` on 64-bit kernels
    (NET_SKBUFF_DATA_USES_OFFSET), a pointer on 32-bit ones.

    :param skb: struct sk_buff *
    """
    tail = skb.tail
    if tail.type_.kind.name == "POINTER":
        return int(tail.value_())
    return int(skb.head.value_()) + int(tail.value_())


def _shinfo(prog: Any, skb: Any) -> Any:
    """:param skb: struct sk_buff * -> struct skb_shared_info * (drgn's own helper: it
    knows NET_SKBUFF_DATA_USES_OFFSET, i.e. whether ``end`` is an offset or a pointer)."""
    from drgn.helpers.linux.net import skb_shinfo

    return skb_shinfo(skb)


def _bit(skb: Any, name: str) -> Optional[bool]:
    try:
        return bool(getattr(skb, name).value_())
    except AttributeError:
        return None


def _frag(prog: Any, frag: Any) -> Frag:
    """:param frag: skb_frag_t (struct bio_vec up to ~6.4: bv_page/bv_len/bv_offset; later
    struct skb_frag: bv_page or, from ~6.12, netmem, plus len/offset)."""
    page: Optional[int] = None
    for member in ("bv_page", "netmem", "page"):
        try:
            v = getattr(frag, member)
            if member == "page":
                v = v.p
            page = int(v.value_())
            break
        except AttributeError:
            continue
    size = offset = None
    for s_name, o_name in (("bv_len", "bv_offset"), ("len", "offset"), ("size", "page_offset")):
        try:
            size = int(getattr(frag, s_name).value_())
            offset = int(getattr(frag, o_name).value_())
            break
        except AttributeError:
            continue
    return Frag(size=size, offset=offset, page=page)


def _member(prog: Any, m: Any, ctx: _Ctx) -> FragListMember:
    """:param m: struct sk_buff * (a frag_list member)"""
    addr = int(m.value_())
    length = ctx.get(f"frag_list member {addr:#x} len", lambda: int(m.len.value_()))
    data_len = ctx.get(f"frag_list member {addr:#x} data_len", lambda: int(m.data_len.value_()))
    nr = ctx.get(f"frag_list member {addr:#x} nr_frags", lambda: int(_shinfo(prog, m).nr_frags.value_()))
    return FragListMember(
        address=addr,
        len=length,
        data_len=data_len,
        headlen=None if length is None or data_len is None else length - data_len,
        head_frag=ctx.get(f"frag_list member {addr:#x} head_frag", lambda: _bit(m, "head_frag")),
        nr_frags=nr,
        cloned=ctx.get(f"frag_list member {addr:#x} cloned", lambda: _bit(m, "cloned")),
    )


def _decode_shinfo(prog: Any, skb: Any, release: Optional[str], ctx: _Ctx) -> SharedInfo:
    addr = int(skb.value_())
    sh = ctx.get(f"skb {addr:#x} shinfo", lambda: _shinfo(prog, skb))
    if sh is None:
        return SharedInfo()
    g = lambda what, fn: ctx.get(f"skb {addr:#x} shinfo.{what}", fn)  # noqa: E731
    gso_type = g("gso_type", lambda: int(sh.gso_type.value_()))
    flags = table = None
    if gso_type is not None:
        flags, table = decode_gso_type(gso_type, release, gso_enum_bits(prog))
    nr_frags = g("nr_frags", lambda: int(sh.nr_frags.value_()))
    frags: Optional[Tuple[Frag, ...]] = None
    if nr_frags is not None:
        got = []
        for i in range(min(nr_frags, _MAX_FRAGS)):
            fr = g(f"frags[{i}]", lambda i=i: _frag(prog, sh.frags[i]))
            if fr is None:
                break
            got.append(fr)
        frags = tuple(got)
    frag_list = g("frag_list", lambda: int(sh.frag_list.value_()))
    members: Optional[Tuple[FragListMember, ...]] = None
    count = truncated = None
    if frag_list is not None:
        walked: List[FragListMember] = []
        truncated = False
        m = sh.frag_list
        seen = set()
        while int(m.value_()) != 0:
            if len(walked) >= _MAX_FRAG_LIST or int(m.value_()) in seen:
                truncated = True
                break
            seen.add(int(m.value_()))
            walked.append(_member(prog, m, ctx))
            nxt = g("frag_list walk", lambda m=m: m.next.read_())
            if nxt is None:
                truncated = True
                break
            m = nxt
        members = tuple(walked)
        count = len(walked)
    return SharedInfo(
        gso_size=g("gso_size", lambda: int(sh.gso_size.value_())),
        gso_segs=g("gso_segs", lambda: int(sh.gso_segs.value_())),
        gso_type=gso_type,
        gso_type_flags=flags,
        gso_type_table=table,
        frag_list=frag_list,
        nr_frags=nr_frags,
        dataref=g("dataref", lambda: int(sh.dataref.counter.value_())),
        frags=frags,
        frag_list_members=members,
        frag_list_count=count,
        frag_list_truncated=truncated,
        shinfo_address=int(sh.value_()),
    )


def decode_skb(prog: Any, skb: Any, origin: str, release: Optional[str], notes: List[str]) -> Skb:
    """Decode one sk_buff into the model.

    :param skb: struct sk_buff *
    """
    ctx = _Ctx()
    addr = int(skb.value_())
    g = lambda what, fn: ctx.get(f"skb {addr:#x} {what}", fn)  # noqa: E731
    length = g("len", lambda: int(skb.len.value_()))
    data_len = g("data_len", lambda: int(skb.data_len.value_()))
    proto = g("protocol", lambda: int(skb.protocol.value_()))
    dev = g("dev", lambda: _dev_name(skb))
    out = Skb(
        address=addr,
        origin=origin,
        len=length,
        data_len=data_len,
        headlen=None if length is None or data_len is None else length - data_len,
        truesize=g("truesize", lambda: int(skb.truesize.value_())),
        protocol=None if proto is None else int.from_bytes(proto.to_bytes(2, "little"), "big"),
        encapsulation=g("encapsulation", lambda: _bit(skb, "encapsulation")),
        ip_summed=g("ip_summed", lambda: int(skb.ip_summed.value_())),
        csum_start=g("csum_start", lambda: int(skb.csum_start.value_())),
        csum_offset=g("csum_offset", lambda: int(skb.csum_offset.value_())),
        mac_header=g("mac_header", lambda: int(skb.mac_header.value_())),
        network_header=g("network_header", lambda: int(skb.network_header.value_())),
        transport_header=g("transport_header", lambda: int(skb.transport_header.value_())),
        inner_mac_header=g("inner_mac_header", lambda: int(skb.inner_mac_header.value_())),
        inner_network_header=g("inner_network_header", lambda: int(skb.inner_network_header.value_())),
        inner_transport_header=g("inner_transport_header", lambda: int(skb.inner_transport_header.value_())),
        dev=dev,
        cloned=g("cloned", lambda: _bit(skb, "cloned")),
        head_frag=g("head_frag", lambda: _bit(skb, "head_frag")),
        pp_recycle=g("pp_recycle", lambda: _bit(skb, "pp_recycle")),
        head=g("head", lambda: int(skb.head.value_())),
        data=g("data", lambda: int(skb.data.value_())),
        shinfo=_decode_shinfo(prog, skb, release, ctx),
        users=g("users", lambda: _users(skb)),
    )
    notes.extend(ctx.fault_notes())
    notes.extend(ctx.notes[:10])
    if len(ctx.notes) > 10:
        notes.append(f"skb {addr:#x}: {len(ctx.notes) - 10} more unreadable fields")
    return out


def _users(skb: Any) -> int:
    """skb->users: a refcount_t since v4.13 (633547973ffc), an atomic_t before."""
    users = skb.users
    try:
        return int(users.refs.counter.value_())
    except (AttributeError, LookupError):
        return int(users.counter.value_())


def _dev_name(skb: Any) -> Optional[str]:
    dev = skb.dev
    if not int(dev.value_()):
        return None
    return str(dev.name.string_().decode("utf-8", "replace"))


def _sane(prog: Any, skb: Any) -> Optional[bool]:
    """Layout check: head <= data <= tail <= end, len >= data_len, shinfo dataref >= 1.

    None when the memory to check is not in the dump (drgn.FaultError: a filtered-out page).

    :param skb: struct sk_buff *
    """
    from drgn import FaultError

    try:
        head = int(skb.head.value_())
        data = int(skb.data.value_())
        tail = _skb_tail(skb)
        end = int(_shinfo(prog, skb).value_())
        if not (head and head <= data <= tail <= end) or end - head > (1 << 24):
            return False
        if int(skb.len.value_()) < int(skb.data_len.value_()):
            return False
        return int(_shinfo(prog, skb).dataref.counter.value_()) >= 1
    except FaultError as exc:
        return None if _missing_page(exc) else False
    except Exception:
        return False


def _missing_page(exc: Any) -> bool:
    """A drgn.FaultError for memory that is mapped but whose page is not in the dump (filtered out by
    makedumpfile, a hole): drgn reports the translated physical address. An unmapped (bogus)
    kernel pointer faults at the virtual address itself (x86_64: bit 63 set)."""
    address = getattr(exc, "address", None)
    return isinstance(address, int) and not address >> 63


class SkbFinder:
    """Collects candidate skbs (deduplicated by address, first origin kept)."""

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self.found: Dict[int, Tuple[str, Any, bool]] = {}  # addr -> (origin, object, subject-candidate)
        self.order: List[int] = []
        self._skb_type = prog.type("struct sk_buff *")
        self._direct_map: Optional[Tuple[int, int]] = None

    def _add(self, addr: int, origin: str, subject: bool, typed: bool = False) -> None:
        """:param typed: a ``struct sk_buff *`` frame local (DWARF-typed), kept even when its page is
        not in the dump (its fields then decode as unknown); guessed pointers must pass the check."""
        from drgn import Object

        if addr in self.found:
            if subject and not self.found[addr][2]:
                o, obj, _ = self.found[addr]
                self.found[addr] = (o, obj, True)
            return
        obj = Object(self.prog, self._skb_type, addr)
        sane = _sane(self.prog, obj)
        if sane is False or (sane is None and not typed):
            return
        self.found[addr] = (origin, obj, subject)
        self.order.append(addr)

    def from_frames(self, frames: List[Tuple[int, Any]]) -> None:
        """:param frames: (index, drgn.StackFrame) from the crash site down."""
        # One scope listing per frame instead of a failed DWARF lookup per candidate name.
        in_scope: Dict[int, Any] = {}
        for idx, frame in frames:
            try:
                in_scope[idx] = set(frame.locals())
            except Exception:
                in_scope[idx] = None  # unknown: try every name
        for names, subject in ((_SUBJECT_NAMES, True), (_OTHER_NAMES, False)):
            for idx, frame in frames:
                fname = frame.name or "?"
                scope = in_scope[idx]
                for name in names:
                    if scope is not None and name not in scope:
                        continue
                    try:
                        obj = frame[name]
                    except (KeyError, LookupError, ValueError):
                        continue
                    try:
                        if obj.absent_ or obj.type_.type_name() != "struct sk_buff *":
                            continue
                        addr = int(obj.value_())
                    except Exception:  # noqa: S112
                        continue
                    if addr < (1 << 63):
                        continue  # NULL, error pointers are above; user addresses are not skbs
                    if addr > 0xFFFFFFFFFFFFF000:
                        continue  # ERR_PTR
                    is_subject = subject or (name == "skb" and _gso_frame(fname))
                    self._add(addr, f"frame #{idx} {fname}: {name}", is_subject, typed=True)

    def _slab_skb(self, value: int) -> Optional[int]:
        from drgn.helpers.linux.slab import slab_object_info

        if not self._in_direct_map(value):
            return None  # slab objects live in the direct map: skip return addresses, stack pointers
        try:
            info = slab_object_info(self.prog, value)
        except Exception:
            return None
        if info is None or not info.allocated:
            return None
        try:
            cache = info.slab_cache.name.string_().decode()
        except Exception:
            return None
        if cache not in _SKB_CACHES:
            return None
        # sk_buff_fclones holds two sk_buffs: accept pointers to either start.
        size = self.prog.type("struct sk_buff").size
        if value - info.address in (0, size):
            return value
        return None

    def _in_direct_map(self, value: int) -> bool:
        if self._direct_map is None:
            try:
                start = int(self.prog["PAGE_OFFSET"].value_())
                end = start + (int(self.prog["max_pfn"].value_()) << 12)
            except Exception:
                start, end = 0, 1 << 64  # unknown: let slab_object_info decide
            self._direct_map = (start, end)
        return self._direct_map[0] <= value < self._direct_map[1]

    def from_registers(self, regs: Dict[str, int]) -> None:
        for name, value in regs.items():
            if value >= (1 << 63) and value % 8 == 0:
                addr = self._slab_skb(value)
                if addr is not None:
                    self._add(addr, f"register {name}", False)

    def from_stack(self, low: int, high: int) -> None:
        """Scan stack words in [low, high) (bounded) for skb pointers."""
        if high <= low:
            return
        high = min(high, low + 8 * _MAX_STACK_SLOTS)
        try:
            raw = self.prog.read(low, high - low)
        except Exception:
            return
        checked = set()
        for off in range(0, len(raw) - 7, 8):
            value = int.from_bytes(raw[off : off + 8], "little")
            if value < (1 << 63) or value % 8 or value in checked or value in self.found:
                continue
            checked.add(value)
            addr = self._slab_skb(value)
            if addr is not None:
                self._add(addr, f"stack slot {low + off:#x}", False)

    def ordered(self, list_path: bool = False) -> List[Tuple[str, Any]]:
        """Subject first: the first subject candidate that is a GSO skb, else the first subject, else
        the first GSO skb, else the first found.

        :param list_path: the crash path runs a GSO callback that calls skb_segment_list()
            (kernel.skbstate.calls_segment_list): without typed locals, an skb with the shape that
            function leaves (GSO fields reset, an extra reference; kernel.skbstate.list_segmented)
            was the GSO skb at entry. It counts as one, so a live register beats a stale stack
            slot of a flood clone that still has its GSO fields."""
        subject = None
        for addr in self.order:
            _origin, obj, is_subject = self.found[addr]
            if is_subject and _is_gso(self.prog, obj):
                subject = addr
                break
        if subject is None:
            subject = next((a for a in self.order if self.found[a][2]), None)
        if subject is None:
            # No typed locals (no DWARF): the first GSO skb found, not a segment or a frag_list member.
            subject = next(
                (
                    a
                    for a in self.order
                    if _is_gso(self.prog, self.found[a][1]) or (list_path and _list_reset(self.prog, self.found[a][1]))
                ),
                None,
            )
        rest = [a for a in self.order if a != subject]
        chosen = ([subject] if subject is not None else []) + rest
        return [(self.found[a][0], self.found[a][1]) for a in chosen[:_MAX_SKBS]]


def _list_reset(prog: Any, skb: Any) -> bool:
    """The shape skb_segment_list() leaves: gso_size, gso_segs and gso_type 0 (skb_gso_reset())
    and a second reference (skb_get() of the skb it returns as the first segment)."""
    try:
        sh = _shinfo(prog, skb)
        reset = not (int(sh.gso_size.value_()) or int(sh.gso_segs.value_()) or int(sh.gso_type.value_()))
        return reset and int(skb.users.refs.counter.value_()) >= 2
    except Exception:
        return False


def _is_gso(prog: Any, skb: Any) -> bool:
    try:
        return int(_shinfo(prog, skb).gso_size.value_()) != 0
    except Exception:
        return False
